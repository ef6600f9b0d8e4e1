from typing import List, Sequence

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors
from allennlp.modules import Highway

from elmo_c.modules.input_layers.input_layer import InputLayer

# ELMo's character ids: 256 bytes + 5 special characters, shifted by one so that
# id 0 is padding.
_NUM_CHARACTER_IDS = 262
ELMO_FILTERS = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]


@InputLayer.register("characters")
class CharacterCnnInput(InputLayer):
    """
    ELMo's character CNN: character embeddings, one convolution per width
    (max-pooled over the token, then the activation), highway layers and a linear
    projection.  Its parameters are laid out like AllenNLP's `_ElmoCharacterEncoder`
    so that a trained model exports to ELMo's weight file unchanged.

    Registered as an `InputLayer` with name "characters" (the default).

    # Parameters

    projection_dim : `int`, optional (default = `512`)
    filters : `List[List[int]]`, optional (default = ELMo's seven widths, 2048 filters)
        `[width, number of filters]` pairs.
    num_highway : `int`, optional (default = `2`)
    character_embedding_dim : `int`, optional (default = `16`)
    activation : `str`, optional (default = `"relu"`)
        `"relu"` or `"tanh"`, after each convolution (ELMo's options name it too).
    indexer_name : `str`, optional (default = `"elmo_characters"`)
        The key of the `ELMoTokenCharactersIndexer` in the text field.
    """

    def __init__(
        self,
        projection_dim: int = 512,
        filters: Sequence[Sequence[int]] = tuple(tuple(pair) for pair in ELMO_FILTERS),
        num_highway: int = 2,
        character_embedding_dim: int = 16,
        activation: str = "relu",
        indexer_name: str = "elmo_characters",
    ) -> None:
        super().__init__()
        if activation not in ("relu", "tanh"):
            raise ConfigurationError(f'activation must be "relu" or "tanh", not "{activation}"')
        self.filters: List[List[int]] = [list(pair) for pair in filters]
        self.num_highway = num_highway
        self.activation = activation
        self.indexer_name = indexer_name
        self._activation = torch.relu if activation == "relu" else torch.tanh
        self.character_embedding = torch.nn.Embedding(_NUM_CHARACTER_IDS, character_embedding_dim, padding_idx=0)
        self.convolutions = torch.nn.ModuleList(
            torch.nn.Conv1d(character_embedding_dim, num, kernel_size=width) for width, num in self.filters
        )
        num_filters = sum(num for _, num in self.filters)
        self.highways = Highway(num_filters, num_highway, activation=torch.nn.functional.relu)
        self.projection = torch.nn.Linear(num_filters, projection_dim)

    def get_output_dim(self) -> int:
        return self.projection.out_features

    def forward(self, source: TextFieldTensors) -> torch.Tensor:
        character_ids = source[self.indexer_name]["elmo_tokens"]
        return self.embed_characters(character_ids)

    def embed_characters(self, character_ids: torch.Tensor) -> torch.Tensor:
        """
        `(batch, num_tokens, max_characters)` character ids -> token vectors.  Each
        distinct word of the batch goes through the CNN once: in text a third or more
        of the tokens repeat a word of their batch (and padding repeats too), so this
        saves that share of the input layer's time and activation memory.
        """
        batch_size, num_tokens, max_characters = character_ids.shape
        words, word_of_token = torch.unique(character_ids.view(-1, max_characters), dim=0, return_inverse=True)
        return self._embed_words(words)[word_of_token].view(batch_size, num_tokens, -1)

    def _embed_words(self, character_ids: torch.Tensor) -> torch.Tensor:
        """`(num_words, max_characters)` character ids -> `(num_words, projection_dim)`."""
        embedded = self.character_embedding(character_ids).transpose(1, 2)
        pooled = [self._activation(conv(embedded).max(dim=-1).values) for conv in self.convolutions]
        return self.projection(self.highways(torch.cat(pooled, dim=-1)))
