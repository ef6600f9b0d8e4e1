"""ELMo-C: contextual representations without a softmax layer, for AllenNLP."""
from elmo_c.config_defaults import set_config_defaults

set_config_defaults()

import elmo_c.commands  # noqa: E402
import elmo_c.data  # noqa: E402
import elmo_c.models  # noqa: E402
import elmo_c.modules  # noqa: E402
