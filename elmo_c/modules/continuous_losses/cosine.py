from typing import Tuple

import torch

from elmo_c.modules.continuous_losses.continuous_loss import ContinuousLoss


@ContinuousLoss.register("cosine")
class CosineLoss(ContinuousLoss):
    """
    `1 - cos(prediction, target)`: ELMo-C's default loss.  It ignores the scale of
    both vectors, so targets need not be normalised.

    Registered as a `ContinuousLoss` with name "cosine".
    """

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return 1.0 - torch.nn.functional.cosine_similarity(predictions, targets, dim=-1, eps=1e-8)

    def _loss_and_cosine(self, predictions: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        cosines = torch.nn.functional.cosine_similarity(predictions, targets, dim=-1, eps=1e-8)
        return 1.0 - cosines, cosines.detach()
