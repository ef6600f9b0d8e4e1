import torch

from elmo_c.modules.bessel import log_vmf_normaliser
from elmo_c.modules.continuous_losses.continuous_loss import ContinuousLoss


@ContinuousLoss.register("vmf")
class VonMisesFisherLoss(ContinuousLoss):
    """
    The negative log-likelihood of the target direction under a von Mises-Fisher
    distribution whose mean direction and concentration are the prediction's
    direction and norm (Kumar & Tsvetkov 2018), with both of their regularisers:

    `-log C_m(||y||) - lambda_1 * y . e_hat + lambda_2 * ||y||`

    `lambda_1 = 1, lambda_2 = 0` is the plain NLL; `lambda_1 < 1` is their
    "regularisation 1" and `lambda_2 > 0` their "regularisation 2" (they report
    0.02 and 0.1).  `log C_m` is computed stably for any dimension and
    concentration (see `elmo_c.modules.bessel`).  Under autocast it is computed in
    float32 (see `ContinuousLoss`), the normaliser in float64.

    Registered as a `ContinuousLoss` with name "vmf".

    # Parameters

    lambda_1 : `float`, optional (default = `1.0`)
        Weight of the cosine (dot product) term.
    lambda_2 : `float`, optional (default = `0.1`)
        Weight of the penalty on the predicted concentration `||y||`.
    """

    def __init__(self, lambda_1: float = 1.0, lambda_2: float = 0.1) -> None:
        super().__init__()
        self.lambda_1 = lambda_1
        self.lambda_2 = lambda_2

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        kappa = predictions.norm(dim=-1)
        unit_targets = torch.nn.functional.normalize(targets.to(predictions.dtype), dim=-1)
        dot = (predictions * unit_targets).sum(dim=-1)
        log_normaliser = log_vmf_normaliser(predictions.size(-1), kappa)
        return -log_normaliser - self.lambda_1 * dot + self.lambda_2 * kappa
