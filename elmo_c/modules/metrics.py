from typing import Union

import torch
from allennlp.common.util import is_distributed
from allennlp.training.metrics import Metric

Number = Union[float, torch.Tensor]


@Metric.register("weighted_mean")
class WeightedMean(Metric):
    """
    The mean of values given as `(sum, count)` pairs, so that batches weigh by the
    number of items they hold (AllenNLP's `Average` weighs every call equally).
    Summed over processes in distributed training.

    Tensors are accumulated where they are, in float64 and detached, and read only
    by `get_metric`: recording a batch's values never waits for the device (a
    `float()` per call would make the host wait for the forward pass on a GPU).
    The sums are the same as accumulating Python floats, in the same order.

    Registered as a `Metric` with name "weighted_mean".
    """

    def __init__(self) -> None:
        self._total: Number = 0.0
        self._count: Number = 0.0

    def __call__(self, total: Number, count: Number) -> None:  # type: ignore[override]
        self._total = self._total + _float64(total)
        self._count = self._count + _float64(count)

    def get_metric(self, reset: bool = False) -> float:
        total, count = float(self._total), float(self._count)
        if is_distributed():
            sums = torch.tensor([total, count], dtype=torch.float64)
            torch.distributed.all_reduce(sums)
            total, count = sums.tolist()
        if reset:
            self.reset()
        return total / count if count > 0 else 0.0

    def reset(self) -> None:
        self._total = 0.0
        self._count = 0.0


def _float64(value: Number) -> Number:
    return value.detach().double() if isinstance(value, torch.Tensor) else float(value)
