"""
AllenNLP's own ELMo recipe, as a user would assemble it today from allennlp 2.10.1
and allennlp-models 2.10.1: the baseline of "ELMo-C vs AllenNLP's ELMo".

allennlp-models' `training_config/lm/bidirectional_language_model.jsonnet` trains
a bidirectional `language_model` with `SampledSoftmaxLoss` (8192 samples,
`dense_sparse_adam`) over a `character_encoding` of ELMo character ids with the
`cnn-highway` encoder (ELMo's character CNN).  Its contextualizer is a
transformer; ELMo's is `allennlp.modules.elmo_lstm.ElmoLstm`, which AllenNLP does
not register as a `Seq2SeqEncoder` (its `stacked_bidirectional_lstm` concatenates
both directions between layers, so a language model on it would see the future).
The user's piece is therefore the thin wrapper below, registered as
"benchmark_elmo_lstm": `ElmoLstm` with trainable weights, returning its top layer.

Choices that favour the baseline: `sparse_embeddings: true` (the recipe's
optimizer, `dense_sparse_adam`, then updates only the rows of the targets and
samples; with its `false` every step would update all 800K rows), no LSTM
clipping (as our configs; ELMo clipped at 3, which costs AllenNLP nothing since
its LSTM runs step by step anyway).
"""
from typing import Any, Dict

import torch
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.modules.elmo_lstm import ElmoLstm
from allennlp.modules.seq2seq_encoders import Seq2SeqEncoder

import allennlp_models.lm  # noqa: F401  (registers "language_model")

from benchmarks.common import ModelSize

CONTEXTUALIZER = "benchmark_elmo_lstm"
CHARACTERS_KEY = "token_characters"


@Seq2SeqEncoder.register(CONTEXTUALIZER)
class ElmoLstmContextualizer(Seq2SeqEncoder):
    """`ElmoLstm` as a bidirectional `Seq2SeqEncoder`: its top layer, both directions."""

    def __init__(self, input_dim: int, projection_dim: int, cell_size: int, num_layers: int = 2) -> None:
        super().__init__(stateful=False)
        self._input_dim = input_dim
        self._projection_dim = projection_dim
        self.lstm = ElmoLstm(input_dim, projection_dim, cell_size, num_layers, requires_grad=True)

    def forward(self, inputs: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:  # type: ignore[override]
        return self.lstm(inputs, mask)[-1]

    def get_input_dim(self) -> int:
        return self._input_dim

    def get_output_dim(self) -> int:
        return 2 * self._projection_dim

    def is_bidirectional(self) -> bool:
        return True


def language_model_config(size: ModelSize, num_samples: int) -> Dict[str, Any]:
    """The `model` section of the recipe, at an encoder size."""
    return {
        "type": "language_model",
        "bidirectional": True,
        "num_samples": num_samples,
        "sparse_embeddings": True,
        "dropout": 0.1,
        "text_field_embedder": {
            "token_embedders": {
                "tokens": {"type": "empty"},
                CHARACTERS_KEY: {
                    "type": "character_encoding",
                    "embedding": {"num_embeddings": 262, "embedding_dim": 16},
                    "encoder": {
                        "type": "cnn-highway",
                        "activation": "relu",
                        "embedding_dim": 16,
                        "filters": [list(pair) for pair in size.filters],
                        "num_highway": size.num_highway,
                        "projection_dim": size.projection_dim,
                        "projection_location": "after_highway",
                        "do_layer_norm": True,
                    },
                },
            }
        },
        "contextualizer": {
            "type": CONTEXTUALIZER,
            "input_dim": size.projection_dim,
            "projection_dim": size.projection_dim,
            "cell_size": size.cell_size,
            "num_layers": 2,
        },
    }


def build_language_model(size: ModelSize, vocab: Vocabulary, num_samples: int) -> Model:
    """allennlp-models' `language_model` for the recipe, built as `allennlp train` would."""
    return Model.from_params(vocab=vocab, params=Params(language_model_config(size, num_samples)))


OPTIMIZER = {"type": "dense_sparse_adam", "lr": 1e-3}
