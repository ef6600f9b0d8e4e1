import logging
import re
from typing import Any, Dict, List

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.callbacks import TrainerCallback

logger = logging.getLogger(__name__)


@TrainerCallback.register("freeze_then_unfreeze")
class FreezeThenUnfreezeCallback(TrainerCallback):
    """
    Keeps the parameters whose names match `patterns` fixed for the first
    `num_batches` batches of training (optimizer steps), then trains them with the
    rest.  Continued pretraining freezes the pretrained lower layers this way while
    a new, random output layer learns, so its first gradients cannot undo them.

    Freezing turns `requires_grad` off *after* the optimizer is built, so the frozen
    parameters stay in it: they get no gradient, so the optimizer skips them
    (Adam keeps no state and counts no step for them; its state starts when they
    are unfrozen, as for a parameter just added), gradient clipping does not count
    them, and the backward pass stops below the lowest trainable layer.  Parameters
    that were not trainable to begin with stay so.  The count of batches is saved
    with each checkpoint, so a run resumed with `--recover` unfreezes at the same
    batch.

    Distributed training must tell DDP that some parameters get no gradient: add
    `"ddp_accelerator": {"type": "torch", "find_unused_parameters": true}` at the
    top of the config.

    Registered as a `TrainerCallback` with name "freeze_then_unfreeze".

    # Parameters

    serialization_dir : `str`
    patterns : `List[str]`
        Regular expressions searched in parameter names (e.g. `^input_layer\\.`,
        `^encoder\\.(forward|backward)_layers\\.0\\.`); each must match a parameter.
    num_batches : `int`, optional (default = `0`)
        How many batches they stay frozen; 0 freezes nothing.
    """

    def __init__(self, serialization_dir: str, patterns: List[str], num_batches: int = 0) -> None:
        super().__init__(serialization_dir)
        if num_batches < 0:
            raise ConfigurationError(f"freeze_then_unfreeze: num_batches must be 0 or more, not {num_batches}")
        self.patterns = [re.compile(pattern) for pattern in patterns]
        self.num_batches = num_batches
        self.batches_completed = 0
        self._frozen: List[torch.nn.Parameter] = []

    def state_dict(self) -> Dict[str, Any]:
        return {"batches_completed": self.batches_completed}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.batches_completed = int(state_dict["batches_completed"])

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary, **kwargs)
        if self.batches_completed >= self.num_batches:
            return
        _check_ddp(trainer)
        names = self._matching_names(trainer.model)
        self._frozen = [parameter for name, parameter in trainer.model.named_parameters()
                        if name in names and parameter.requires_grad]
        for parameter in self._frozen:
            parameter.requires_grad_(False)
        logger.info(f"freeze_then_unfreeze: {len(self._frozen)} parameters frozen for the first {self.num_batches} "
                    f"batches ({', '.join(sorted(names)[:6])}{', ...' if len(names) > 6 else ''})")

    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch: int, batch_number: int,
                 is_training: bool, is_primary: bool = True, **kwargs) -> None:
        if not is_training:
            return
        self.batches_completed += 1
        if self.batches_completed == self.num_batches:
            self._unfreeze()
            logger.info(f"freeze_then_unfreeze: unfrozen after {self.num_batches} batches")

    def on_end(self, trainer, metrics=None, epoch=None, is_primary: bool = True, **kwargs) -> None:
        self._unfreeze()  # the model that training returns is trainable throughout, as it was given

    def _unfreeze(self) -> None:
        for parameter in self._frozen:
            parameter.requires_grad_(True)
        self._frozen = []

    def _matching_names(self, model: torch.nn.Module) -> List[str]:
        names = [name for name, _ in model.named_parameters()]
        for pattern in self.patterns:
            if not any(pattern.search(name) for name in names):
                prefixes = sorted({".".join(name.split(".")[:3]) for name in names})
                raise ConfigurationError(
                    f'freeze_then_unfreeze: the pattern "{pattern.pattern}" matches no parameter of the model; '
                    f"fix it or leave it out (a frozen LSTM layer the model does not have?).  The parameters "
                    f"begin with: {', '.join(prefixes)}"
                )
        return [name for name in names if any(pattern.search(name) for pattern in self.patterns)]


def _check_ddp(trainer) -> None:
    wrapped = getattr(getattr(trainer, "_ddp_wrapped_model", None), "model", None)
    if isinstance(wrapped, torch.nn.parallel.DistributedDataParallel) and not wrapped.find_unused_parameters:
        raise ConfigurationError(
            "freeze_then_unfreeze under distributed training: frozen parameters get no gradient, which DDP must "
            'be told.  Add "ddp_accelerator": {"type": "torch", "find_unused_parameters": true} at the top of '
            "the config"
        )
