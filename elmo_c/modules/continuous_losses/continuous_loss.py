import torch
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
