from typing import List, NamedTuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict, sanitize
from allennlp.data import Batch, DatasetReader, Instance, Token
from allennlp.data.fields import TextField
from allennlp.data.token_indexers.elmo_indexer import ELMoCharacterMapper
from allennlp.models import Model
from allennlp.nn.util import get_text_field_mask, move_to_device
from allennlp.predictors import Predictor

from elmo_c.models import ContinuousOutputLanguageModel


class Window(NamedTuple):
    """Positions `start:end` run through the model together; of them, `keep_start:keep_end` are kept."""

    start: int
    end: int
    keep_start: int
    keep_end: int


def overlapping_windows(length: int, size: int) -> List[Window]:
    """
    Windows of at most `size` positions over a sequence of `length`, such that every
    position is kept by exactly one window, with context on both sides.

    A sequence of at most `size` positions is one window.  A longer one gets windows
    of `size` positions, each starting `size - 2 * (size // 4)` after the previous:
    each keeps its middle and leaves a margin of `size // 4` positions on each side
    to its neighbours, which keep them with more context; the first window also
    keeps its start and the last its end.

    # Parameters

    length : `int`
        The number of positions (sentence boundaries included).
    size : `int`
        The most positions in one window.
    """
    if length <= size:
        return [Window(0, length, 0, length)]
    margin = size // 4
    stride = size - 2 * margin
    windows: List[Window] = []
    start = 0
    while not windows or windows[-1].end < length:
        end = min(start + size, length)
        keep_start = start + margin if start > 0 else 0
        keep_end = end - margin if end < length else length
        windows.append(Window(start, end, keep_start, keep_end))
        start += stride
    return windows


@Predictor.register("elmo_c_embedder")
class ElmoCEmbedderPredictor(Predictor):
    """
    Every layer of ELMo-C's representation of a sentence, for
    `allennlp predict ARCHIVE INPUT.jsonl --predictor elmo_c_embedder`.

    Input lines are `{"sentence": "..."}` (tokenised by the archive's dataset
    reader) or `{"tokens": ["...", ...]}`.  The output is `{"tokens": [...],
    "layers": [...]}`: `layers` holds the input layer (duplicated to both
    directions) and then each LSTM layer, each a `num_tokens x (2 * projection_dim)`
    list of lists, one vector for every token given.  The sentence boundaries `<S>`
    and `</S>` that the reader adds are run through the model but left out of the
    output.

    Sentences are never truncated.  One longer than the longest instance the reader
    makes in training (`max_sequence_length` words and the two boundaries) is
    embedded in overlapping windows of that many positions (see
    `overlapping_windows`): each window keeps the vectors of its middle, so every
    token kept has at least a quarter window of context on each side within its
    window (or the sentence's own start or end), but no context from beyond its
    window.  As in the reader's training pieces, only the first window starts with
    `<S>` and only the last ends with `</S>`.  A sentence that fits in one window
    is embedded whole, as before.

    The whole model is run through its `layer_outputs`, so this works for both
    input layers (`characters` and `word_vectors`); the output layer is never used,
    and its target vector file need not exist.

    Registered as a `Predictor` with name "elmo_c_embedder".
    """

    def __init__(self, model: Model, dataset_reader: DatasetReader, frozen: bool = True) -> None:
        if not isinstance(model, ContinuousOutputLanguageModel):
            raise ConfigurationError(
                f"The elmo_c_embedder predictor needs an ELMo-C language model "
                f"(continuous_output_language_model), not a {type(model).__name__}"
            )
        if not hasattr(dataset_reader, "max_sequence_length"):
            raise ConfigurationError(
                f"The elmo_c_embedder predictor needs the archive's elmo_c_sentences dataset reader "
                f"(it reads its max_sequence_length), not a {type(dataset_reader).__name__}: set the "
                f'config\'s "dataset_reader" to {{"type": "elmo_c_sentences"}}'
            )
        super().__init__(model, dataset_reader, frozen)
        self._window_size = dataset_reader.max_sequence_length + 2  # type: ignore[attr-defined]

    def predict(self, sentence: str) -> JsonDict:
        return self.predict_json({"sentence": sentence})

    def _json_to_instance(self, json_dict: JsonDict) -> Instance:
        if "tokens" in json_dict:
            return self._dataset_reader.text_to_instance(list(json_dict["tokens"]))  # type: ignore[call-arg]
        if "sentence" in json_dict:
            return self._dataset_reader.text_to_instance(json_dict["sentence"])  # type: ignore[call-arg]
        raise ConfigurationError(f'Each input needs a "sentence" or a "tokens" key, got keys {sorted(json_dict)}')

    def predict_instance(self, instance: Instance) -> JsonDict:
        return self.predict_batch_instance([instance])[0]

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        sentences = [list(instance["source"].tokens) for instance in instances]  # type: ignore[attr-defined]
        windows = [overlapping_windows(len(tokens), self._window_size) for tokens in sentences]
        pieces = [tokens[w.start : w.end] for tokens, its in zip(sentences, windows) for w in its]
        piece_layers = self._layer_outputs(pieces)
        outputs = []
        first_piece = 0
        for tokens, its_windows in zip(sentences, windows):
            layers = [self._kept(layer[first_piece:], its_windows) for layer in piece_layers]
            outputs.append(self._output([token.text for token in tokens], layers))
            first_piece += len(its_windows)
        return outputs

    def _layer_outputs(self, pieces: List[List[Token]]) -> List[torch.Tensor]:
        """Every layer of each piece, run as one batch: `(num_pieces, longest, dim)` each."""
        instances = [Instance({"source": TextField(piece)}) for piece in pieces]
        for instance in instances:
            self._dataset_reader.apply_token_indexers(instance)
        batch = Batch(instances)
        batch.index_instances(self._model.vocab)
        source = move_to_device(batch.as_tensor_dict()["source"], self.cuda_device)
        with torch.no_grad():
            return self._model.layer_outputs(source, get_text_field_mask(source))  # type: ignore[operator]

    @staticmethod
    def _kept(layer: torch.Tensor, windows: List[Window]) -> torch.Tensor:
        """One sentence's vectors, from its windows (the first rows of `layer`), each keeping its part."""
        parts = [layer[index, w.keep_start - w.start : w.keep_end - w.start] for index, w in enumerate(windows)]
        return torch.cat(parts)

    @staticmethod
    def _output(tokens: List[str], layers: List[torch.Tensor]) -> JsonDict:
        start = 1 if tokens[:1] == [ELMoCharacterMapper.bos_token] else 0
        end = len(tokens) - 1 if len(tokens) > start and tokens[-1] == ELMoCharacterMapper.eos_token else len(tokens)
        return sanitize({"tokens": tokens[start:end], "layers": [layer[start:end] for layer in layers]})
