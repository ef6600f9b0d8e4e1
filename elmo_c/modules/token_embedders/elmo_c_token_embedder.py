from typing import List, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.modules import ScalarMix
from allennlp.modules.token_embedders import TokenEmbedder
from allennlp.nn.util import remove_sentence_boundaries

from elmo_c.models.archive_loading import PretrainedBiLm


@TokenEmbedder.register("elmo_c_token_embedder")
class ElmoCTokenEmbedder(TokenEmbedder):
    """
    ELMo-C representations for a downstream model: a learned scalar mix of the
    layers of a pretrained ELMo-C (the character CNN, duplicated to both
    directions, then each LSTM layer's forward and backward states), computed like
    allennlp's `elmo_token_embedder` computes ELMo's.  Sentence boundaries `<S>`
    and `</S>` are added before the biLM and removed from its output.

    Only the input layer and encoder are read from the archive: the output layer
    and its target vectors are never built, so the vector file need not exist.
    Unlike allennlp's `Elmo`, the biLM keeps no LSTM state between batches: every
    sentence starts from zero states, so a sentence's vectors do not depend on the
    batches before it.  There is no length limit: every sentence runs whole through
    the biLM and each token gets a vector.

    Use it with an `ELMoTokenCharactersIndexer` (e.g. named "elmo").  Models trained
    with the `word_vectors` input layer read vocabulary ids, not characters, and
    are refused with a `ConfigurationError`.

    Registered as a `TokenEmbedder` with name "elmo_c_token_embedder".

    # Parameters

    archive_file : `str`
        The `model.tar.gz` of a trained `continuous_output_language_model` (or its
        serialization directory).
    dropout : `float`, optional (default = `0.5`)
        Applied to the mixed representation.
    do_layer_norm : `bool`, optional (default = `False`)
        Layer-normalise each layer before mixing (passed to `ScalarMix`).
    requires_grad : `bool`, optional (default = `False`)
        Fine-tune the biLM's parameters; by default they are frozen.
    scalar_mix_parameters : `List[float]`, optional (default = `None`)
        Fixed, untrained pre-softmax mixing weights, one per entry of `layers`; e.g.
        `[-1e9, -1e9, 1e9]` keeps only the top layer of a 2-layer model.  By default
        the weights are learned, starting uniform.
    layers : `List[int]`, optional (default = all)
        Which layers to mix: 0 is the input layer, 1 the first LSTM layer, and so on.
    projection_dim : `int`, optional (default = `None`)
        If given, a trainable linear projection of the mix to this size.
    """

    def __init__(
        self,
        archive_file: str,
        dropout: float = 0.5,
        do_layer_norm: bool = False,
        requires_grad: bool = False,
        scalar_mix_parameters: Optional[List[float]] = None,
        layers: Optional[List[int]] = None,
        projection_dim: Optional[int] = None,
    ) -> None:
        super().__init__()
        self._bilm = PretrainedBiLm.from_archive(archive_file)
        for parameter in self._bilm.parameters():
            parameter.requires_grad = requires_grad
        self._layers = self._check_layers(layers, self._bilm.num_layers)
        if scalar_mix_parameters is not None and len(scalar_mix_parameters) != len(self._layers):
            raise ConfigurationError(
                f"scalar_mix_parameters has {len(scalar_mix_parameters)} weights for {len(self._layers)} "
                f"layers {self._layers}: give one weight per mixed layer"
            )
        self._scalar_mix = ScalarMix(
            len(self._layers),
            do_layer_norm=do_layer_norm,
            initial_scalar_parameters=scalar_mix_parameters,
            trainable=scalar_mix_parameters is None,
        )
        self._dropout = torch.nn.Dropout(dropout)
        self._projection = (
            torch.nn.Linear(self._bilm.get_output_dim(), projection_dim) if projection_dim else None
        )

    @staticmethod
    def _check_layers(layers: Optional[List[int]], num_layers: int) -> List[int]:
        if layers is None:
            return list(range(num_layers))
        if not layers or len(set(layers)) != len(layers) or not all(0 <= i < num_layers for i in layers):
            raise ConfigurationError(
                f"layers must be distinct indices in 0..{num_layers - 1} (0 is the input layer, "
                f"{num_layers - 1} the top LSTM layer), got {layers}"
            )
        return list(layers)

    def get_output_dim(self) -> int:
        if self._projection is not None:
            return self._projection.out_features
        return self._bilm.get_output_dim()

    def forward(self, elmo_tokens: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """
        # Parameters

        elmo_tokens : `torch.Tensor`
            `(batch_size, num_tokens, 50)` character ids, from `ELMoTokenCharactersIndexer`
            (more leading dimensions are allowed, e.g. from a `ListField`).

        # Returns

        `(batch_size, num_tokens, get_output_dim())`, zero at padding before dropout
        and projection.
        """
        leading_shape = elmo_tokens.shape[:-2]
        character_ids = elmo_tokens.reshape(-1, *elmo_tokens.shape[-2:])
        layers, mask = self._bilm(character_ids)
        # Mixing before removing the boundaries, as allennlp's Elmo does, matters
        # for do_layer_norm: the boundaries count in each layer's statistics.
        mixed = self._scalar_mix([layers[index] for index in self._layers], mask)
        mixed, _ = remove_sentence_boundaries(mixed, mask)
        mixed = self._dropout(mixed)
        if self._projection is not None:
            mixed = self._projection(mixed)
        return mixed.reshape(*leading_shape, mixed.size(-2), mixed.size(-1))
