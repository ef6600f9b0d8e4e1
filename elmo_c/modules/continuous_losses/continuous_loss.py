import contextlib
from typing import Iterator, Tuple

import torch
from allennlp.common import Registrable


@contextlib.contextmanager
def float32_region(device: torch.device) -> Iterator[None]:
    """
    Turns autocast off on `device` for the block, so that the operations in it run
    in the dtype of their inputs (float32 once cast) instead of a lower precision
    that CUDA's `use_amp` (float16) or a bfloat16 autocast would choose.
    """
    with torch.autocast(device_type=device.type, enabled=False):
        yield


class ContinuousLoss(torch.nn.Module, Registrable):
    """
    A loss between predicted vectors and fixed target vectors, one value per row.
    Used by the `continuous` output layer; it has no trainable parameters.

    Mixed precision: calling the loss (or `loss_and_cosine`) computes it in float32
    with autocast turned off, whatever the dtype of the predictions (float16 or
    bfloat16 under autocast): norms, cosines and the von Mises-Fisher normaliser
    lose too much in 8 bits of mantissa, and cost nothing next to the encoder.
    Implementations therefore see float32 (or float64) inputs in `forward`.
    """

    default_implementation = "cosine"

    def __call__(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        with float32_region(predictions.device):
            return super().__call__(_at_least_float32(predictions), _at_least_float32(targets))

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
        target, which the output layer reports as a metric; both in float32 (see
        the class docstring).
        """
        with float32_region(predictions.device):
            return self._loss_and_cosine(_at_least_float32(predictions), _at_least_float32(targets))

    def _loss_and_cosine(self, predictions: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """`loss_and_cosine` on float32 inputs; a loss that computes the cosine anyway overrides it to share the work."""
        losses = self(predictions, targets)
        with torch.no_grad():
            cosines = torch.nn.functional.cosine_similarity(predictions, targets, dim=-1, eps=1e-8)
        return losses, cosines


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """float16 and bfloat16 become float32; float32 and float64 stay as they are."""
    return tensor.float() if tensor.is_floating_point() and tensor.element_size() < 4 else tensor
