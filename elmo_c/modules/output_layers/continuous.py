from typing import Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError

from elmo_c.data.target_embeddings import TargetEmbeddings
from elmo_c.modules.continuous_losses import ContinuousLoss, CosineLoss
from elmo_c.modules.metrics import WeightedMean
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

    Metrics: `cosine` (mean cosine between prediction and target) always;
    `top1_accuracy`, `top10_accuracy`, ... (the target is among the k nearest
    vectors of the whole table to the prediction, by cosine) in evaluation.  The
    search runs over the table in chunks, so an 800K-word table fits in memory.

    Registered as an `OutputLayer` with name "continuous".

    # Parameters

    input_dim : `int`
        Passed by the model.
    target_embeddings : `TargetEmbeddings`
        The fixed vectors to regress (never trained, never on the device as a whole).
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
    """

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
        self._cosine = WeightedMean()
        self._accuracies = {k: WeightedMean() for k in self.top_k}

    def forward(  # type: ignore[override]
        self, hidden: torch.Tensor, targets: torch.Tensor, direction: int
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        vectors, valid = self.target_embeddings.lookup(targets)
        if not bool(valid.all()):
            hidden, vectors = hidden[valid], vectors[valid]
        predictions = self.head(direction)(hidden)
        losses, cosines = self.loss.loss_and_cosine(predictions, vectors)
        self._cosine(cosines.sum(), cosines.numel())
        if self.top_k and (self.neighbours_in_training or not self.training):
            with torch.no_grad():
                self._neighbour_accuracy(predictions, vectors)
        return losses.sum(), torch.tensor(float(losses.numel()), device=losses.device)

    def _neighbour_accuracy(self, predictions: torch.Tensor, vectors: torch.Tensor) -> None:
        queries = torch.nn.functional.normalize(predictions[: self.max_neighbour_queries].float(), dim=-1)
        own = torch.nn.functional.normalize(vectors[: self.max_neighbour_queries], dim=-1)
        target_cosine = (queries * own).sum(dim=-1, keepdim=True)
        closer = torch.zeros(len(queries), dtype=torch.long, device=queries.device)
        for rows, valid in self.target_embeddings.unit_chunks(self.neighbour_chunk_size, queries.device):
            cosines = (queries @ rows.t()).masked_fill(~valid, -2.0)
            closer += (cosines > target_cosine + _COSINE_TOLERANCE).sum(dim=-1)
        for k, accuracy in self._accuracies.items():
            accuracy((closer < k).sum(), len(queries))

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {"cosine": self._cosine.get_metric(reset)}
        if self.neighbours_in_training or not self.training:
            for k, accuracy in self._accuracies.items():
                metrics[f"top{k}_accuracy"] = accuracy.get_metric(reset)
        return metrics
