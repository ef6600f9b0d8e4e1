"""A test-only trainer callback: `kill -9` of the training process itself at a
chosen point (`ELMO_C_TEST_KILL_AT=EPOCH:BATCH`), so that a test can interrupt a
run exactly mid-epoch through the real CLI (`--include-package tests.kill_switch`)."""
import os
import signal

from allennlp.training.callbacks import TrainerCallback


@TrainerCallback.register("kill_switch")
class KillSwitch(TrainerCallback):
    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch, batch_number, is_training,
                 is_primary=True, **kwargs) -> None:
        point = os.environ.get("ELMO_C_TEST_KILL_AT")
        if is_training and point and tuple(map(int, point.split(":"))) == (epoch, batch_number):
            os.kill(os.getpid(), signal.SIGKILL)
