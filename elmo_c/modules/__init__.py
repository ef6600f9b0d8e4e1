from elmo_c.modules.bilm_encoder import BidirectionalLmEncoder
from elmo_c.modules.continuous_losses import ContinuousLoss
from elmo_c.modules.input_layers import InputLayer
from elmo_c.modules.output_layers import OutputLayer
from elmo_c.modules.token_embedders import ElmoCTokenEmbedder
from elmo_c.modules.archived_encoder import ArchivedEncoder
