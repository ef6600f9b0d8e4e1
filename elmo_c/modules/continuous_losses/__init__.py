from elmo_c.modules.continuous_losses.continuous_loss import ContinuousLoss
from elmo_c.modules.continuous_losses.cosine import CosineLoss
from elmo_c.modules.continuous_losses.vmf import VonMisesFisherLoss
