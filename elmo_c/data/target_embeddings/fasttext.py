import logging
import mmap
import os
import struct
from typing import List, Optional, Tuple

import numpy
from allennlp.common.checks import ConfigurationError
from allennlp.common.tqdm import Tqdm
from allennlp.data import Vocabulary

from elmo_c.config_defaults import variable_hint
from elmo_c.data.target_embeddings.target_embeddings import EXACT, MISSING, SUBWORD, TargetEmbeddings

logger = logging.getLogger(__name__)

_FASTTEXT_MAGIC = 793712314
# The layout of a .bin model: magic and version, then the arguments (dim, ws, epoch,
# minCount, neg, wordNgrams, loss, model, bucket, minn, maxn, lrUpdateRate, t), the
# dictionary (its sizes, then per entry a NUL-terminated word, an int64 count and an
# int8 type, then the pruned-index pairs), and the input and output matrices, each
# after a "quantised" flag byte: int64 rows and columns, then float32 values.
_HEADER = struct.Struct("<ii")
_ARGS = struct.Struct("<12id")
_DICTIONARY = struct.Struct("<iiiqq")
_ENTRY_TAIL = 9
_MATRIX = struct.Struct("<qq")


@TargetEmbeddings.register("fasttext")
class FastTextTargetEmbeddings(TargetEmbeddings):
    """
    Vectors from an official FastText `.bin` model.  Words in its dictionary get
    their own vector; every other word gets the sum of its character n-gram vectors
    (FastText's `get_word_vector`), so the vocabulary never has to be truncated.

    Registered as a `TargetEmbeddings` with name "fasttext".

    # Parameters

    path : `str`
        The `.bin` model (e.g. from `allennlp build-targets`, or crawl-300d-2M-subword.bin).
    **kwargs
        See `TargetEmbeddings`.
    """

    def __init__(self, vocab: Vocabulary, path: str, **kwargs) -> None:
        super().__init__(vocab, **kwargs)
        self.path = path

    def _read_vectors(self, words: List[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
        model = self._load_model()
        dictionary = set(model.get_words(include_freq=False))
        matrix = numpy.zeros((len(words), model.get_dimension()), dtype=numpy.float32)
        status = numpy.full(len(words), MISSING, dtype=numpy.int8)
        for i, word in enumerate(Tqdm.tqdm(words, desc="aligning FastText vectors")):
            lookup = word if word in dictionary else self.aliases.get(word, word)
            matrix[i] = model.get_word_vector(lookup)
            if lookup in dictionary:
                status[i] = EXACT
            elif matrix[i].any():
                status[i] = SUBWORD
        return matrix, status

    def _load_model(self):
        self._check_header()
        import fasttext

        fasttext.FastText.eprint = lambda *args, **kwargs: None  # a deprecation notice on every load
        try:
            return fasttext.load_model(self.path)
        except (ValueError, RuntimeError, MemoryError) as error:
            raise ConfigurationError(
                f"Could not read the FastText model {self.path} ({error}): the file is probably truncated; "
                f"copy or train it again"
            ) from None

    def _check_header(self) -> None:
        if not os.path.isfile(self.path):
            raise ConfigurationError(f"FastText model {self.path}{variable_hint(self.path)} does not exist: check the path in the config")
        with open(self.path, "rb") as stream:
            header = stream.read(8)
        if len(header) < 8 or struct.unpack("<i", header[:4])[0] != _FASTTEXT_MAGIC:
            raise ConfigurationError(
                f"{self.path} is not a FastText .bin model (wrong magic number): use the `text` type for "
                f".vec/GloVe files and `npy` for numpy matrices"
            )
        self._check_size()

    def _check_size(self) -> None:
        """
        fastText's loader does not notice the end of the file: given a truncated
        model it crashes the process, loops forever or silently loads garbage.  So
        the size the header and dictionary announce is checked first.
        """
        with open(self.path, "rb") as stream:
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
                expected = _announced_size(data)
                actual = len(data)
        if expected is None or expected > actual:
            announced = "more" if expected is None else f"{expected}"
            raise ConfigurationError(
                f"The FastText model {self.path} is truncated or corrupt: it has {actual} bytes but its header "
                f"and dictionary announce {announced}; copy or train it again"
            )
        if expected < actual:
            logger.warning("%s has %d bytes after the end of the FastText model", self.path, actual - expected)


def _announced_size(data: mmap.mmap) -> Optional[int]:
    """
    The size in bytes of a fastText model according to its header and dictionary, or
    `None` if `data` ends before them or they make no sense.  Quantised models
    (`.ftz`) are only checked up to their dictionary.
    """
    try:
        args = _ARGS.unpack_from(data, _HEADER.size)
        dim = args[0]
        position = _HEADER.size + _ARGS.size
        num_entries, _, _, _, pruned_size = _DICTIONARY.unpack_from(data, position)
        position += _DICTIONARY.size
        for _ in range(num_entries):
            position = data.find(b"\0", position)
            if position < 0:
                return None
            position += 1 + _ENTRY_TAIL
        position += 8 * max(pruned_size, 0)
        for _ in ("input", "output"):
            if data[position]:
                return len(data)
            rows, columns = _MATRIX.unpack_from(data, position + 1)
            if rows < 0 or columns != dim:
                return None
            position += 1 + _MATRIX.size + 4 * rows * columns
        return position
    except (struct.error, IndexError):
        return None
