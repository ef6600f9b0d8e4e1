"""ELMo-C: contextual representations without a softmax layer, for AllenNLP."""
import warnings

from elmo_c.config_defaults import set_config_defaults

set_config_defaults()
# Harmless noise from running AllenNLP 2.10 on torch 2.x, repeated on every batch.
warnings.filterwarnings("ignore", message=r".*torch\.cuda\.amp\.autocast.*", category=FutureWarning)
warnings.filterwarnings("ignore", message=r"LSTM with projections is not supported with oneDNN", category=UserWarning)

import elmo_c.commands  # noqa: E402
import elmo_c.data  # noqa: E402
import elmo_c.models  # noqa: E402
import elmo_c.modules  # noqa: E402
import elmo_c.training  # noqa: E402
import elmo_c.predictors  # noqa: E402
