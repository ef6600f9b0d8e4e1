import torch
from typing import Tuple

from allennlp.common import Registrable


class ContinuousLoss(torch.nn.Module, Registrable):
    """
    A loss between predicted vectors and fixed target vectors, one value per row.
    Used by the `continuous` output layer; it has no trainable parameters.
    """

    default_implementation = "cosine"

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """
        # Parameters

        predictions : `torch.Tensor`
            Shape `(num_targets, dim)`, the output layer's (unnormalised) predictions.
        targets : `torch.Tensor`
            Shape `(num_targets, dim)`, the target vectors of the words to predict.

        # Returns

        `torch.Tensor` of shape `(num_targets,)`: the loss of each row.
        """
        raise NotImplementedError

    def loss_and_cosine(self, predictions: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        `forward`'s losses, and the (detached) cosine of each prediction with its
        target, which the output layer reports as a metric.  A loss that computes
        the cosine anyway overrides this to share the work.
        """
        losses = self(predictions, targets)
        with torch.no_grad():
            cosines = torch.nn.functional.cosine_similarity(predictions, targets, dim=-1, eps=1e-8)
        return losses, cosines
