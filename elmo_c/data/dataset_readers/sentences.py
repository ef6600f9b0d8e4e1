import glob
import logging
from typing import Dict, Iterable, Iterator, List, Optional, Union

from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance, Token, TokenIndexer, Tokenizer
from allennlp.data.fields import TextField
from allennlp.data.token_indexers import ELMoTokenCharactersIndexer, SingleIdTokenIndexer
from allennlp.data.tokenizers import WhitespaceTokenizer

from elmo_c.config_defaults import fallback_notice, variable_hint

logger = logging.getLogger(__name__)


@DatasetReader.register("elmo_c_sentences")
class SentencesDatasetReader(DatasetReader):
    """
    Reads text for bidirectional language modelling: one sentence per line, from a
    file or a glob of shards (read lazily, sharded across data-loader workers and
    distributed processes).  Each sentence becomes a `TextField` "source",
    indexed twice by default: `elmo_characters` (the model's input) and
    `single_id` in namespace `tokens` (the words to predict).

    Registered as a `DatasetReader` with name "elmo_c_sentences".

    # Parameters

    tokenizer : `Tokenizer`, optional (default = `WhitespaceTokenizer()`)
        `{"type": "spacy_blank"}` gives spaCy's rule-based English tokenisation.
    token_indexers : `Dict[str, TokenIndexer]`, optional
        Defaults to `{"elmo_characters": ELMoTokenCharactersIndexer(),
        "tokens": SingleIdTokenIndexer()}`.
    add_boundaries : `bool`, optional (default = `True`)
        Surround each sentence with ELMo's `<S>` and `</S>`, so the forward model
        also predicts the end and the backward model the start of the sentence.
    max_sequence_length : `int`, optional (default = `400`)
        `read` splits longer sentences into consecutive pieces of at most this many
        words (boundaries not counted).  Only real sentence ends get boundaries: the
        first piece starts with `<S>`, the last ends with `</S>`, and no piece ends
        or starts with a boundary where it was cut, so the model never learns that
        a sentence ends there (the last word of a cut piece predicts nothing
        forward, the first word of the next nothing backward).  `text_to_instance`
        never splits nor truncates.  Unused with `window_size`.
    encoding_errors : `str`, optional (default = `"strict"`)
        What to do with bytes that are not UTF-8: `"strict"` stops with an error
        naming the file and line, `"replace"` substitutes U+FFFD.
    window_size : `int`, optional (default = `None`)
        Pack the token stream (boundaries included) into windows of exactly this
        many tokens, as ELMo was trained (20): no padding, sentences cross windows.
        As with `max_sequence_length`, a window holds only real boundaries: a
        sentence cut by a window's edge gets no `</S>` or `<S>` at the cut.
        `None` gives one instance per sentence (split as `max_sequence_length` says).
    """

    def __init__(
        self,
        tokenizer: Optional[Tokenizer] = None,
        token_indexers: Optional[Dict[str, TokenIndexer]] = None,
        add_boundaries: bool = True,
        max_sequence_length: int = 400,
        encoding_errors: str = "strict",
        window_size: Optional[int] = None,
        **kwargs,
    ) -> None:
        super().__init__(manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs)
        if max_sequence_length < 1:
            raise ConfigurationError(f"max_sequence_length must be positive, got {max_sequence_length}")
        if window_size is not None and window_size < 2:
            raise ConfigurationError(f"window_size must be at least 2 tokens, got {window_size}")
        if encoding_errors not in ("strict", "replace"):
            raise ConfigurationError(f'encoding_errors must be "strict" or "replace", not "{encoding_errors}"')
        self._tokenizer = tokenizer or WhitespaceTokenizer()
        self._token_indexers = token_indexers or {
            "elmo_characters": ELMoTokenCharactersIndexer(),
            "tokens": SingleIdTokenIndexer(),
        }
        self._add_boundaries = add_boundaries
        self._max_sequence_length = max_sequence_length
        self._encoding_errors = encoding_errors
        self._window_size = window_size

    def _read(self, file_path: str) -> Iterable[Instance]:
        sentences = self.shard_iterable(self._sentences(str(file_path)))
        if self._window_size is not None:
            yield from self._windows(sentences)
            return
        for sentence in sentences:
            yield from self._instances(sentence)

    @property
    def max_sequence_length(self) -> int:
        """The most words of one sentence in one instance of `read`."""
        return self._max_sequence_length

    def text_to_instance(self, sentence: Union[str, List[str]]) -> Instance:  # type: ignore
        """
        One instance for a whole sentence, given as text or as a list of tokens,
        however long: it is never truncated (the `elmo_c_embedder` predictor embeds
        long sentences in pieces itself).
        """
        instance = self._instance(self._tokenize(sentence))
        self.apply_token_indexers(instance)
        return instance

    def apply_token_indexers(self, instance: Instance) -> None:
        instance["source"].token_indexers = self._token_indexers  # type: ignore

    def _instances(self, sentence: str) -> Iterator[Instance]:
        tokens = self._tokenize(sentence)
        for start in range(0, len(tokens), self._max_sequence_length):
            end = min(start + self._max_sequence_length, len(tokens))
            yield self._field_instance(self._piece(tokens, start, end))

    def _windows(self, sentences: Iterable[str]) -> Iterator[Instance]:
        window_size = self._window_size
        assert window_size is not None
        buffer: List[Token] = []
        for sentence in sentences:
            buffer.extend(self._with_boundaries(self._tokenize(sentence)))
            while len(buffer) >= window_size:
                yield self._field_instance(buffer[:window_size])
                buffer = buffer[window_size:]
        if buffer:
            yield self._field_instance(buffer)

    def _tokenize(self, sentence: Union[str, List[str]]) -> List[Token]:
        if isinstance(sentence, str):
            return self._tokenizer.tokenize(sentence)
        return [Token(word) for word in sentence]

    def _instance(self, tokens: List[Token]) -> Instance:
        return self._field_instance(self._with_boundaries(tokens))

    def _with_boundaries(self, tokens: List[Token]) -> List[Token]:
        return self._piece(tokens, 0, len(tokens))

    def _piece(self, tokens: List[Token], start: int, end: int) -> List[Token]:
        """`tokens[start:end]`, with `<S>` only if it starts the sentence and `</S>` only if it ends it."""
        if not self._add_boundaries:
            return tokens[start:end]
        opening = [Token("<S>")] if start == 0 else []
        closing = [Token("</S>")] if end == len(tokens) else []
        return opening + tokens[start:end] + closing

    def _field_instance(self, tokens: List[Token]) -> Instance:
        # No indexers here: `read` applies them in the main process, and data-loader
        # workers must send instances without them (AllenNLP refuses them otherwise).
        return Instance({"source": TextField(tokens)})

    def _sentences(self, file_path: str) -> Iterator[str]:
        paths = sorted(glob.glob(file_path)) if glob.has_magic(file_path) else [file_path]
        if not paths:
            raise ConfigurationError(
                f"No file matches {file_path}{variable_hint(file_path)}: check the data path in the config"
            )
        notice = fallback_notice(file_path)
        if notice:
            logger.warning(notice)
        num_sentences = 0
        for path in paths:
            for sentence in self._lines(path):
                num_sentences += 1
                yield sentence
        if num_sentences == 0:
            raise ConfigurationError(f"{file_path} holds no text: the corpus is empty (give one sentence per line)")

    def _lines(self, path: str) -> Iterator[str]:
        try:
            stream = open(path, "rb")
        except OSError as error:
            raise ConfigurationError(
                f"Cannot read the corpus file {path}{variable_hint(path)}: {error.strerror}"
            ) from None
        with stream:
            for line_number, raw in enumerate(stream, 1):
                line = self._decode(raw, path, line_number).strip()
                if line:
                    yield line

    def _decode(self, raw: bytes, path: str, line_number: int) -> str:
        try:
            return raw.decode("utf-8", errors=self._encoding_errors)
        except UnicodeDecodeError as error:
            raise ConfigurationError(
                f"{path}, line {line_number}, is not valid UTF-8 ({error.reason} at byte {error.start}): "
                f're-encode the corpus as UTF-8, or set the reader\'s "encoding_errors": "replace"'
            ) from None
