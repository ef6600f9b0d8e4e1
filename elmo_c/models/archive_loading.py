"""
Loading the reusable part of a trained ELMo-C, its input layer and encoder, from a
`ContinuousOutputLanguageModel` archive, without building the output layer (whose
target vector file need not exist where the representations are used).
"""
import json
import os
import tarfile
from typing import Dict, List, Tuple

import numpy
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.data.token_indexers.elmo_indexer import ELMoCharacterMapper
from allennlp.models import Model
from allennlp.models.archival import CONFIG_NAME, extracted_archive, get_weights_path
from allennlp.nn.util import add_sentence_boundary_token_ids, read_state_dict, remove_sentence_boundaries

from elmo_c.config_defaults import variable_hint
from elmo_c.modules.bilm_encoder import BidirectionalLmEncoder
from elmo_c.modules.input_layers import CharacterCnnInput, InputLayer

_KEPT_MODULES = ("input_layer", "encoder")


class PretrainedBiLm(torch.nn.Module):
    """
    The character CNN and biLM encoder of a trained ELMo-C, run the way ELMo runs
    its biLM: on ELMo character ids, with `<S>` and `</S>` added around every
    sentence, returning every layer for a downstream scalar mix.  Its parameter
    names are the archive's (`input_layer.*`, `encoder.*`).

    The encoder is rebuilt without its between-layer dropout: like ELMo's, the
    representations are deterministic in training mode too (a downstream model
    applies its own dropout to the mix).

    Build it with `PretrainedBiLm.from_archive(path)`.

    # Parameters

    input_layer : `CharacterCnnInput`
    encoder : `BidirectionalLmEncoder`
    """

    def __init__(self, input_layer: CharacterCnnInput, encoder: BidirectionalLmEncoder) -> None:
        super().__init__()
        self.input_layer = input_layer
        self.encoder = encoder
        # +1: ELMo's character ids are shifted so that 0 is padding.
        bos = torch.from_numpy(numpy.array(ELMoCharacterMapper.beginning_of_sentence_characters) + 1)
        eos = torch.from_numpy(numpy.array(ELMoCharacterMapper.end_of_sentence_characters) + 1)
        self.register_buffer("_bos_characters", bos, persistent=False)
        self.register_buffer("_eos_characters", eos, persistent=False)

    @property
    def num_layers(self) -> int:
        """The input layer and every LSTM layer."""
        return self.encoder.num_layers + 1

    def get_output_dim(self) -> int:
        """The size of every layer: both directions' states."""
        return 2 * self.encoder.get_output_dim()

    def forward(self, character_ids: torch.Tensor) -> Tuple[List[torch.Tensor], torch.BoolTensor]:  # type: ignore
        """
        # Parameters

        character_ids : `torch.Tensor`
            `(batch, num_tokens, max_characters)` ids from `ELMoTokenCharactersIndexer`,
            without sentence boundaries.

        # Returns

        `(layers, mask)`, *with* the boundaries (`num_tokens + 2` positions), as
        allennlp's `_ElmoBiLm` returns them: the input layer duplicated to both
        directions, then each LSTM layer, each `(batch, num_tokens + 2, get_output_dim())`
        and zero at padding.  `remove_boundaries` strips them.
        """
        mask = (character_ids > 0).any(dim=-1)
        character_ids, mask = add_sentence_boundary_token_ids(
            character_ids, mask, self._bos_characters, self._eos_characters
        )
        embedded = self.input_layer.embed_characters(character_ids) * mask.unsqueeze(-1)
        return [torch.cat([embedded, embedded], dim=-1)] + self.encoder(embedded, mask), mask

    @staticmethod
    def remove_boundaries(
        layers: List[torch.Tensor], mask: torch.BoolTensor
    ) -> Tuple[List[torch.Tensor], torch.BoolTensor]:
        """Drops the `<S>` and `</S>` positions from `forward`'s layers and mask."""
        stripped = [remove_sentence_boundaries(layer, mask) for layer in layers]
        return [layer for layer, _ in stripped], stripped[0][1]

    @classmethod
    def from_archive(cls, archive_file: str) -> "PretrainedBiLm":
        """
        Reads a `ContinuousOutputLanguageModel` archive (`model.tar.gz`, or a
        serialization directory) and builds only its input layer and encoder.

        Raises `ConfigurationError` for a missing or unreadable archive, another
        model type, or an input layer other than `characters`.
        """
        config, state = read_bilm_archive(archive_file)
        model_params = config.pop("model")
        input_layer = _character_input_layer(model_params.pop("input_layer", Params({})), archive_file)
        encoder_params = model_params.pop("encoder", Params({}))
        encoder_params["dropout"] = 0.0
        encoder = BidirectionalLmEncoder.from_params(encoder_params, input_dim=input_layer.get_output_dim())
        bilm = cls(input_layer, encoder)
        bilm.load_state_dict(state)
        return bilm.eval()


def read_bilm_archive(archive_file: str) -> Tuple[Params, Dict[str, torch.Tensor]]:
    """
    The config of an ELMo-C archive (checked to be a `ContinuousOutputLanguageModel`)
    and the weights of its input layer and encoder, on the CPU.
    """
    resolved = _resolve(archive_file)
    if os.path.isdir(resolved):
        return _read_serialization_dir(resolved, archive_file)
    try:
        with extracted_archive(resolved) as directory:
            return _read_serialization_dir(directory, archive_file)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ConfigurationError(
            f"Cannot read the model archive {archive_file} ({error}): give the model.tar.gz "
            f"written by `allennlp train`, or its serialization directory"
        ) from None


def _resolve(archive_file: str) -> str:
    try:
        return str(cached_path(archive_file))
    except FileNotFoundError:
        raise ConfigurationError(
            f"The model archive {archive_file}{variable_hint(archive_file)} does not exist: give the model.tar.gz written by "
            f"`allennlp train` for an ELMo-C model (continuous_output_language_model)"
        ) from None


def _read_serialization_dir(directory: str, archive_file: str) -> Tuple[Params, Dict[str, torch.Tensor]]:
    config_path = os.path.join(directory, CONFIG_NAME)
    weights_path = get_weights_path(directory)
    if not os.path.isfile(config_path) or not os.path.isfile(weights_path):
        raise ConfigurationError(
            f"{archive_file} is not a model archive (it has no {CONFIG_NAME} or weights): give the "
            f"model.tar.gz written by `allennlp train`, or its serialization directory"
        )
    with open(config_path, encoding="utf-8") as config_file:
        config = Params(json.load(config_file))
    _check_model_type(config, archive_file)
    state = read_state_dict(weights_path, cuda_device=-1)
    kept = {name: tensor for name, tensor in state.items() if name.split(".", 1)[0] in _KEPT_MODULES}
    return config, kept


def _check_model_type(config: Params, archive_file: str) -> None:
    # Imported here: the model's modules import elmo_c.modules, which imports this file.
    from elmo_c.models.continuous_output_language_model import ContinuousOutputLanguageModel

    model_type = config.get("model", Params({})).get("type")
    try:
        model_class = Model.resolve_class_name(model_type)[0] if model_type else None
    except ConfigurationError:
        model_class = None
    if model_class is None or not issubclass(model_class, ContinuousOutputLanguageModel):
        raise ConfigurationError(
            f'{archive_file} holds a "{model_type}" model, not an ELMo-C language model: give the '
            f"archive of a model trained with type continuous_output_language_model (e.g. from "
            f"training_config/elmo_c.jsonnet)"
        )


def _character_input_layer(params: Params, archive_file: str) -> CharacterCnnInput:
    layer_type = params.get("type", InputLayer.default_implementation)
    layer_class = InputLayer.resolve_class_name(layer_type)[0]
    if not issubclass(layer_class, CharacterCnnInput):
        raise ConfigurationError(
            f'{archive_file} has a "{layer_type}" input layer, which reads vocabulary ids instead of '
            f"characters; ELMo's character-level tools (elmo_c_token_embedder, export-elmo, "
            f"elmo-c-embed) need the \"characters\" input layer.  For this model, use the whole model "
            f"instead: `allennlp predict ARCHIVE INPUT --predictor elmo_c_embedder`, or "
            f"`load_archive(ARCHIVE).model.layer_outputs(...)`"
        )
    return InputLayer.from_params(params)  # type: ignore[return-value]
