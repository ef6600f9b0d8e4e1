import os
from typing import List, Optional, Tuple

import numpy
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from elmo_c.config_defaults import variable_hint
from elmo_c.data.target_embeddings.target_embeddings import TargetEmbeddings, align_by_word


@TargetEmbeddings.register("npy")
class NpyTargetEmbeddings(TargetEmbeddings):
    """
    Vectors in a `.npy` matrix (one row per word) with the words in a text file,
    one per line, in the same order.

    Registered as a `TargetEmbeddings` with name "npy".

    # Parameters

    path : `str`
        The `.npy` matrix, shape `(num_words, embedding_dim)`.
    words_path : `str`, optional (default = `path` with `.npy` replaced by `.words.txt`)
        The words, one per line (UTF-8).
    lowercase_fallback : `bool`, optional (default = `True`)
        Words absent from the file take the vector of their lowercased form.
    **kwargs
        See `TargetEmbeddings`.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        path: str,
        words_path: Optional[str] = None,
        lowercase_fallback: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(vocab, **kwargs)
        self.path = path
        self.words_path = words_path or (path[: -len(".npy")] if path.endswith(".npy") else path) + ".words.txt"
        self.lowercase_fallback = lowercase_fallback

    def _cache_options(self) -> str:
        stat = os.stat(self.words_path) if os.path.exists(self.words_path) else None
        stamp = f"{stat.st_size}:{stat.st_mtime_ns}" if stat else "absent"
        return f"{os.path.abspath(self.words_path)}:{stamp}:lowercase_fallback={self.lowercase_fallback}"

    def _read_vectors(self, words: List[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
        vectors = self._load_matrix()
        file_words = self._load_words(len(vectors))
        index = {}
        for row, word in enumerate(file_words):
            index.setdefault(word, row)
        rows, status = align_by_word(words, index, self.lowercase_fallback, self.aliases)
        matrix = numpy.zeros((len(words), vectors.shape[1]), dtype=numpy.float32)
        found = rows >= 0
        matrix[found] = vectors[rows[found]]
        return matrix, status

    def _load_matrix(self) -> numpy.ndarray:
        if not os.path.isfile(self.path):
            raise ConfigurationError(f"Target vector file {self.path}{variable_hint(self.path)} does not exist: check the path in the config")
        try:
            vectors = numpy.load(self.path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as error:
            raise ConfigurationError(
                f"{self.path} is not a readable .npy matrix ({error}): it may be truncated; save it again"
            ) from None
        if vectors.ndim != 2:
            raise ConfigurationError(f"{self.path} holds an array of shape {vectors.shape}, not a 2-d matrix")
        return vectors

    def _load_words(self, num_rows: int) -> List[str]:
        if not os.path.isfile(self.words_path):
            raise ConfigurationError(
                f"The word list {self.words_path} for {self.path} does not exist: write one word per line "
                f"in the matrix's row order, or set words_path"
            )
        try:
            with open(self.words_path, encoding="utf-8") as stream:
                words = _lines(stream.read())
        except UnicodeDecodeError as error:
            raise ConfigurationError(f"{self.words_path} is not valid UTF-8 ({error.reason}): re-encode it") from None
        if len(words) != num_rows:
            raise ConfigurationError(
                f"{self.words_path} lists {len(words)} words but {self.path} has {num_rows} rows: they must match"
            )
        return words


def _lines(text: str) -> List[str]:
    """
    The lines of `text`, split on newlines only: `str.splitlines` would also split
    words containing characters such as U+0085 or U+2028.
    """
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines
