import logging
import os
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
from allennlp.common.util import dump_metrics, is_distributed
from allennlp.training.callbacks import TrainerCallback
from allennlp.training.metrics import Metric

logger = logging.getLogger(__name__)

# (the epoch metric, the batch metric it sums), as AllenNLP's trainer reports them.
RUNNING_SUMS = (("loss", "batch_loss"), ("reg_loss", "batch_reg_loss"))


@TrainerCallback.register("resumable_metrics")
class ResumableMetricsCallback(TrainerCallback):
    """
    Makes the training metrics of an epoch resumed mid-way with `--recover` the
    metrics of the whole epoch, as an uninterrupted run reports them.  AllenNLP
    restores the weights, the optimizer and the position in the epoch, but starts the
    epoch's running loss and the model's metrics (cosine, accuracies, ...) from zero,
    so the resumed epoch's `training_*` figures would cover only the batches after the
    checkpoint (and its `training_loss` would divide their sum by every batch).

    With every checkpoint this callback saves the epoch's running loss sums and the
    state of every `Metric` the model holds; on `--recover` it puts the metrics'
    state back before the first batch and adds the saved sums to the loss that the
    progress bar, the logs, `metrics_epoch_N.json` and `metrics.json` report.  An
    uninterrupted run's figures are left exactly as AllenNLP computes them.

    A metric whose state holds something other than numbers, strings, tensors and
    flat dicts or lists of them cannot be saved in a checkpoint (AllenNLP reads checkpoints
    with `torch.load(weights_only=True)`): it is skipped with a warning.  In
    distributed training, where only the primary process saves checkpoints and the
    metrics are summed over processes, the callback does nothing.

    Registered as a `TrainerCallback` with name "resumable_metrics".
    """

    def __init__(self, serialization_dir: str) -> None:
        super().__init__(serialization_dir)
        self._sums: Dict[str, float] = {}
        self._restored: Optional[Dict[str, Any]] = None
        # The sums saved before the resumed epoch's checkpoint, while that epoch runs.
        self._carried: Optional[Dict[str, float]] = None
        self._warned = False

    def state_dict(self) -> Dict[str, Any]:
        if self.trainer is None or is_distributed():
            return {}
        return {"sums": dict(self._sums), "metrics": self._metric_states(self.trainer.model)}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._restored = state_dict or None

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary, **kwargs)
        restored, self._restored = self._restored, None
        # Only a checkpoint taken within an epoch has anything to carry over.
        if restored is None or is_distributed() or not trainer._start_after_batches_in_epoch_completed:
            return
        for name, metric in _metrics(trainer.model):
            if name in restored["metrics"]:
                _set_state(metric, restored["metrics"][name])
        self._carried = dict(restored["sums"])
        self._sums = dict(restored["sums"])

    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch, batch_number, is_training,
                 is_primary: bool = True, **kwargs) -> None:
        if not is_training or is_distributed():
            return
        for total, batch in RUNNING_SUMS:
            if batch in batch_metrics:
                self._sums[total] = self._sums.get(total, 0.0) + batch_metrics[batch]
                if self._carried is not None:
                    batch_metrics[total] = self._sums[total] / batch_number

    def on_epoch(self, trainer, metrics: Dict[str, Any], epoch: int, is_primary: bool = True, **kwargs) -> None:
        sums, carried = self._sums, self._carried
        self._sums, self._carried = {}, None
        if carried is None:
            return
        batches = trainer._batches_in_epoch_completed
        for total, _ in RUNNING_SUMS:
            if f"training_{total}" in metrics and total in sums:
                metrics[f"training_{total}"] = sums[total] / batches
        if is_primary and self.serialization_dir:
            # AllenNLP wrote this epoch's file before calling back: rewrite it corrected.
            dump_metrics(os.path.join(self.serialization_dir, f"metrics_epoch_{epoch}.json"), metrics)

    def _metric_states(self, model: torch.nn.Module) -> Dict[str, Dict[str, Any]]:
        states = {}
        for name, metric in _metrics(model):
            state = _state(metric)
            if state is None:
                if not self._warned:
                    logger.warning(
                        "resumable_metrics: the state of %s (%s) cannot be saved in a checkpoint; "
                        "a run resumed mid-epoch reports it over the batches after the checkpoint only",
                        name, type(metric).__name__,
                    )
                    self._warned = True
                continue
            states[name] = state
        return states


def _metrics(model: torch.nn.Module) -> Iterator[Tuple[str, Metric]]:
    """Every `Metric` a module of `model` holds, directly or in a dict or list, by a stable name."""
    for module_name, module in model.named_modules():
        for attribute, value in vars(module).items():
            yield from _find(f"{module_name}.{attribute}" if module_name else attribute, value)


def _find(name: str, value: Any) -> Iterator[Tuple[str, Metric]]:
    if isinstance(value, Metric):
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _find(f"{name}[{key}]", item)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _find(f"{name}[{index}]", item)


def _state(metric: Metric) -> Optional[Dict[str, Any]]:
    state = {}
    for attribute, value in vars(metric).items():
        if isinstance(value, dict):
            if not all(isinstance(key, (str, int)) and _is_plain(item) for key, item in value.items()):
                return None
            value = dict(value)
        elif isinstance(value, (list, tuple)):
            if not all(_is_plain(item) for item in value):
                return None
            value = list(value)
        elif not _is_plain(value):
            return None
        state[attribute] = value.detach().clone() if isinstance(value, torch.Tensor) else value
    return state


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, torch.Tensor))


def _set_state(metric: Metric, state: Dict[str, Any]) -> None:
    for attribute, value in state.items():
        current = getattr(metric, attribute, None)
        if isinstance(current, dict):  # keep its type (a defaultdict stays one)
            current.clear()
            current.update(value)
        elif isinstance(current, torch.Tensor) and isinstance(value, torch.Tensor):
            setattr(metric, attribute, value.to(current.device))
        else:
            setattr(metric, attribute, value)
