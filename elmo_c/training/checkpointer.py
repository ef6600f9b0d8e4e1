import os
from typing import Any

import torch
from allennlp.training.checkpointer import Checkpointer
from allennlp.training.trainer import Trainer

from elmo_c.common.atomic import atomic_output_path


@Checkpointer.register("atomic")
class AtomicCheckpointer(Checkpointer):
    """
    AllenNLP's checkpointer, but crash-safe: each state file is written to a
    temporary file and renamed into place, and the training state before the model
    state (whose file is what `--recover` looks for).  AllenNLP's own writes in
    place, so a process killed while saving leaves a truncated checkpoint that
    `allennlp train --recover` then fails to load.

    Registered as a `Checkpointer` with name "atomic"; parameters as "default".
    """

    def save_checkpoint(self, trainer: Trainer) -> None:
        state = trainer.get_checkpoint_state() if self._serialization_dir is not None else None
        if state is not None:
            point = (state.trainer_state["epochs_completed"], state.trainer_state["batches_in_epoch_completed"])
            _atomic_torch_save(state.trainer_state, self._training_state_path(*point))
            _atomic_torch_save(state.model_state, self._model_state_path(*point))
        # Finds both files in place, so it only does the bookkeeping and pruning.
        super().save_checkpoint(trainer)


def _atomic_torch_save(state: Any, path: str) -> None:
    if os.path.isfile(path):
        return
    with atomic_output_path(path) as temporary:
        torch.save(state, temporary)
