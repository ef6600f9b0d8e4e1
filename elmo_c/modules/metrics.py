import torch
from allennlp.common.util import is_distributed
from allennlp.training.metrics import Metric


@Metric.register("weighted_mean")
class WeightedMean(Metric):
    """
    The mean of values given as `(sum, count)` pairs, so that batches weigh by the
    number of items they hold (AllenNLP's `Average` weighs every call equally).
    Summed over processes in distributed training.

    Registered as a `Metric` with name "weighted_mean".
    """

    def __init__(self) -> None:
        self._total = 0.0
        self._count = 0.0

    def __call__(self, total: torch.Tensor, count: torch.Tensor) -> None:  # type: ignore[override]
        self._total += float(total)
        self._count += float(count)

    def get_metric(self, reset: bool = False) -> float:
        total, count = self._total, self._count
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
