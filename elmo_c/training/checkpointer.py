import logging
import os
import time
from typing import Any, List, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import is_distributed
from allennlp.nn import util as nn_util
from allennlp.training.checkpointer import Checkpointer, TrainerCheckpoint
from allennlp.training.trainer import Trainer

from elmo_c.common.atomic import atomic_output_path

logger = logging.getLogger(__name__)


@Checkpointer.register("atomic")
class AtomicCheckpointer(Checkpointer):
    """
    AllenNLP's checkpointer, but crash-safe: each state file is written to a
    temporary file and renamed into place, and the training state before the model
    state (whose file is what `--recover` looks for).  AllenNLP's own writes in
    place, so a process killed while saving leaves a truncated checkpoint that
    `allennlp train --recover` then fails to load.

    A checkpoint that cannot be read all the same (a disk that lost data, a copy
    cut short) is skipped when resuming: the newest readable one is used instead,
    with a warning that names both; if none can be read, a `ConfigurationError`
    names them all.

    Registered as a `Checkpointer` with name "atomic"; parameters as "default"
    (`save_every_num_seconds` / `save_every_num_batches` save within an epoch).
    """

    def __init__(self, serialization_dir: str, save_every_num_seconds: Optional[float] = None, **kwargs) -> None:
        # AllenNLP refuses a time-based schedule in distributed training, where the
        # workers' clocks would disagree.  Only the primary writes a (non-sharded)
        # checkpoint, so here the primary alone keeps the time.
        distributed = is_distributed()
        super().__init__(serialization_dir, save_every_num_seconds=None if distributed else save_every_num_seconds,
                         **kwargs)
        self._primary_seconds = save_every_num_seconds if distributed else None

    def maybe_save_checkpoint(self, trainer: Trainer, num_epochs_completed: int,
                              num_batches_in_epoch_completed: int) -> bool:
        if (
            self._primary_seconds is not None
            and self._is_primary
            and time.time() - self._last_save_time >= self._primary_seconds
        ):
            self.save_checkpoint(trainer)
            return True
        return super().maybe_save_checkpoint(trainer, num_epochs_completed, num_batches_in_epoch_completed)

    def save_checkpoint(self, trainer: Trainer) -> None:
        state = trainer.get_checkpoint_state() if self._serialization_dir is not None else None
        if state is not None:
            point = (state.trainer_state["epochs_completed"], state.trainer_state["batches_in_epoch_completed"])
            _atomic_torch_save(state.trainer_state, self._training_state_path(*point))
            _atomic_torch_save(state.model_state, self._model_state_path(*point))
        # Finds both files in place, so it only does the bookkeeping and pruning.
        super().save_checkpoint(trainer)

    def load_checkpoint(self) -> Optional[TrainerCheckpoint]:
        unreadable: List[str] = []
        for point in sorted(self._find_all_checkpoints(), reverse=True):
            paths = (self._model_state_path(*point), self._training_state_path(*point))
            try:
                states = [torch.load(path, map_location=nn_util.device_mapping(-1)) for path in paths]
            except Exception as error:  # truncated zip, bad pickle, I/O error: all mean unusable
                unreadable.append(f"{paths[0]} / {paths[1]} ({type(error).__name__}: {error})")
                continue
            if unreadable:
                logger.warning(
                    "Could not read the newest checkpoint %s; resuming from the previous good one, %s",
                    "; ".join(unreadable), " / ".join(paths),
                )
            return TrainerCheckpoint(*states)
        if unreadable:
            raise ConfigurationError(
                "No checkpoint in {} can be read: {}. Train again without --recover (or into a new "
                "serialization directory)".format(self._serialization_dir, "; ".join(unreadable))
            )
        return None


def _atomic_torch_save(state: Any, path: str) -> None:
    if os.path.isfile(path):
        return
    with atomic_output_path(path) as temporary:
        torch.save(state, temporary)
