import torch
from allennlp.common import Registrable
from allennlp.data import TextFieldTensors


class InputLayer(torch.nn.Module, Registrable):
    """
    The context-independent token representation that feeds the biLM encoder
    (ELMo's layer 0).

    `forward` takes the whole `TextFieldTensors` of the "source" field, so an input
    layer chooses which indexer's tensors it reads, and returns
    `(batch_size, num_tokens, get_output_dim())`.
    """

    default_implementation = "characters"

    def get_output_dim(self) -> int:
        raise NotImplementedError

    def forward(self, source: TextFieldTensors) -> torch.Tensor:
        raise NotImplementedError
