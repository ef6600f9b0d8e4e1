from typing import Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError

from elmo_c.data.target_embeddings import TargetEmbeddings
from elmo_c.modules.continuous_losses import ContinuousLoss, CosineLoss
from elmo_c.modules.continuous_losses.continuous_loss import float32_region
from elmo_c.modules.metrics import WeightedMean
from elmo_c.modules.next_word_metrics import NextWordRanking
from elmo_c.modules.output_layers.output_layer import OutputLayer

# Cosines of a prediction with its own target computed two ways (elementwise, and
# through a matrix product over the table) differ in the last bits.
_COSINE_TOLERANCE = 1e-5


@OutputLayer.register("continuous")
class ContinuousOutputLayer(OutputLayer):
    """
    ELMo-C's output layer: a trainable linear map from the encoder state to the
    space of the fixed target vectors, and a loss against the target vector of the
    word to predict.  Its cost is O(embedding_dim) per position, whatever the
    vocabulary size.

    Metrics, each beside its baseline (see `next_word_metrics`; sentence boundaries
    are left out of all of them): `cosine` (mean cosine between prediction and
    target) always, with `constant_cosine` (that of the best constant prediction:
    the mean target direction, weighted by the training counts of a `counted`
    vocabulary) and `cosine_gain` (the difference); in evaluation,
    `top1_accuracy`, `top10_accuracy`, ... (the target is among the k nearest
    words of the whole table to the prediction, by cosine) with
    `unigram_top1_accuracy`, ... (among the k most frequent training words).  The
    search runs over the table in chunks, so an 800K-word table fits in memory.

    On a GPU the training step never waits for the device here: the layer takes
    every position of the batch (`takes_padding`), and targets that do not count
    (padding, words without a vector, boundaries left out of the loss) are weighed
    by zero instead of being selected, so every shape is static and the count of
    targets stays a device tensor.  What remains is the lookup in a CPU table (see
    `TargetEmbeddings`; none with `device_resident`), the von Mises-Fisher
    normaliser below 44 dimensions (see `elmo_c.modules.bessel`), and, in
    evaluation only, the nearest-neighbour search, which selects the measured
    positions.  Under autocast (`use_amp`, or bfloat16) the projection runs in the
    lower precision, the loss and the metrics in float32.

    Registered as an `OutputLayer` with name "continuous".

    # Parameters

    input_dim : `int`
        Passed by the model.
    target_embeddings : `TargetEmbeddings`
        The fixed vectors to regress (never trained; on the device as a whole only
        with its `device_resident`).
    loss : `ContinuousLoss`, optional (default = `cosine`)
        `{"type": "vmf", "lambda_1": ..., "lambda_2": ...}` for the von Mises-Fisher NLL.
    share_between_directions : `bool`, optional (default = `False`)
        One projection for both language models instead of one each.
    top_k : `List[int]`, optional (default = `[1, 10]`)
        The k of the nearest-neighbour accuracies; empty to skip the search.
    max_neighbour_queries : `int`, optional (default = `1024`)
        Search neighbours for at most this many targets per batch and direction
        (the first ones): the search costs O(vocabulary) per query.
    neighbour_chunk_size : `int`, optional (default = `65536`)
        Rows of the table compared at once.
    neighbours_in_training : `bool`, optional (default = `False`)
        Also compute the accuracies on training batches.
    boundaries_in_loss : `bool`, optional (default = `True`)
        Whether the sentence boundaries `<S>` and `</S>` are targets of the loss (they
        are never in the metrics).  Only the forward model predicts `</S>` and only
        the backward one `<S>`, so that the two sharing a vector confuses neither.
    """

    takes_padding = True

    def __init__(
        self,
        input_dim: int,
        target_embeddings: TargetEmbeddings,
        loss: Optional[ContinuousLoss] = None,
        share_between_directions: bool = False,
        top_k: List[int] = (1, 10),  # type: ignore[assignment]
        max_neighbour_queries: int = 1024,
        neighbour_chunk_size: int = 65536,
        neighbours_in_training: bool = False,
        boundaries_in_loss: bool = True,
    ) -> None:
        super().__init__()
        if any(k < 1 for k in top_k) or max_neighbour_queries < 1 or neighbour_chunk_size < 1:
            raise ConfigurationError("top_k, max_neighbour_queries and neighbour_chunk_size must be positive")
        self.target_embeddings = target_embeddings
        self.loss = loss or CosineLoss()
        self.make_heads(lambda: torch.nn.Linear(input_dim, target_embeddings.embedding_dim), share_between_directions)
        self.top_k = sorted(set(top_k))
        self.max_neighbour_queries = max_neighbour_queries
        self.neighbour_chunk_size = neighbour_chunk_size
        self.neighbours_in_training = neighbours_in_training
        self.boundaries_in_loss = boundaries_in_loss
        self.ranking = NextWordRanking(target_embeddings.vocab, target_embeddings.namespace, self.top_k)
        self._cosine = WeightedMean()
        self._constant_cosine = WeightedMean()
        self._constant: Optional[torch.Tensor] = None

    def forward(  # type: ignore[override]
        self, hidden: torch.Tensor, targets: torch.Tensor, direction: int
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        vectors, valid = self.target_embeddings.lookup(targets)
        measured = self.ranking.is_measured(targets)
        if not self.boundaries_in_loss:
            valid = valid & measured
        predictions = self.head(direction)(hidden)
        losses, cosines = self.loss.loss_and_cosine(predictions, vectors)
        with torch.no_grad(), float32_region(predictions.device):
            self._record_metrics(predictions, vectors, targets, cosines, valid & measured)
        return losses.masked_fill(~valid, 0.0).sum(), valid.sum().to(losses.dtype)

    def _record_metrics(
        self,
        predictions: torch.Tensor,
        vectors: torch.Tensor,
        targets: torch.Tensor,
        cosines: torch.Tensor,
        measured: torch.Tensor,
    ) -> None:
        """The metrics of the `measured` positions (valid targets other than the boundaries), weighed by the mask."""
        count = measured.sum()
        self._cosine(cosines.masked_fill(~measured, 0.0).sum(), count)
        units = torch.nn.functional.normalize(vectors.float(), dim=-1)
        constant = self._constant_direction(units.device)
        if constant is not None:
            self._constant_cosine((units @ constant).masked_fill(~measured, 0.0).sum(), count)
        if self.top_k and (self.neighbours_in_training or not self.training):
            # Selecting the measured positions waits for the device: evaluation only (by default).
            queries = predictions[measured][: self.max_neighbour_queries]
            self._neighbour_ranking(queries, units[measured][: len(queries)], targets[measured][: len(queries)])

    def _neighbour_ranking(self, predictions: torch.Tensor, units: torch.Tensor, targets: torch.Tensor) -> None:
        """How many measured words of the table are nearer (by cosine) to each prediction than its target."""
        queries = torch.nn.functional.normalize(predictions.float(), dim=-1)
        target_cosine = (queries * units).sum(dim=-1, keepdim=True)
        closer = torch.zeros(len(queries), dtype=torch.long, device=queries.device)
        start = 0
        for rows, valid in self.target_embeddings.unit_chunks(self.neighbour_chunk_size, queries.device):
            candidates = valid & self.ranking.measured[start : start + len(rows)].to(valid.device)
            cosines = (queries @ rows.t()).masked_fill(~candidates, -2.0)
            closer += (cosines > target_cosine + _COSINE_TOLERANCE).sum(dim=-1)
            start += len(rows)
        self.ranking.record(targets, closer)

    def _constant_direction(self, device: torch.device) -> Optional[torch.Tensor]:
        """
        The best constant prediction for the mean cosine: the direction of the mean
        unit target, each measured word weighted by its training count.  `None`
        without counts.
        """
        if self.ranking.counts is None:
            return None
        if self._constant is None:
            total = torch.zeros(self.target_embeddings.embedding_dim, dtype=torch.float64)
            weights = torch.from_numpy(self.ranking.counts).double() * self.ranking.measured.cpu()
            start = 0
            for rows, valid in self.target_embeddings.unit_chunks(self.neighbour_chunk_size, torch.device("cpu")):
                chunk_weights = weights[start : start + len(rows)] * valid
                total += chunk_weights @ rows.double()
                start += len(rows)
            self._constant = torch.nn.functional.normalize(total, dim=0).float()
        if self._constant.device != device:  # kept where it is used: no copy (and no wait) per batch
            self._constant = self._constant.to(device)
        return self._constant

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {"cosine": self._cosine.get_metric(reset)}
        if self.ranking.counts is not None:
            metrics["constant_cosine"] = self._constant_cosine.get_metric(reset)
            metrics["cosine_gain"] = metrics["cosine"] - metrics["constant_cosine"]
        ranking = self.ranking.get_metrics(reset)
        if self.neighbours_in_training or not self.training:
            metrics.update(ranking)
        return metrics
