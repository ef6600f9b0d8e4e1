import gzip
import logging
import os
import zlib
from typing import BinaryIO, Dict, List, Optional, Tuple

import numpy
from allennlp.common.checks import ConfigurationError
from allennlp.common.tqdm import Tqdm
from allennlp.data import Vocabulary

from elmo_c.config_defaults import variable_hint
from elmo_c.data.target_embeddings.target_embeddings import TargetEmbeddings, align_by_word

logger = logging.getLogger(__name__)


@TargetEmbeddings.register("text")
class TextTargetEmbeddings(TargetEmbeddings):
    """
    Vectors in a text file, one word and its values per line: word2vec / FastText
    `.vec` (with a `count dim` header line) or GloVe (no header), optionally
    gzip-compressed (`.gz`).  The file is parsed once; later runs read the aligned
    table from the cache.

    Registered as a `TargetEmbeddings` with name "text".

    # Parameters

    path : `str`
        The vector file.
    lowercase_fallback : `bool`, optional (default = `True`)
        Words absent from the file take the vector of their lowercased form (GloVe
        is lowercased).
    **kwargs
        See `TargetEmbeddings`.
    """

    def __init__(self, vocab: Vocabulary, path: str, lowercase_fallback: bool = True, **kwargs) -> None:
        super().__init__(vocab, **kwargs)
        self.path = path
        self.lowercase_fallback = lowercase_fallback

    def _cache_options(self) -> str:
        return f"lowercase_fallback={self.lowercase_fallback}"

    def _read_vectors(self, words: List[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
        wanted = set(words) | {self.aliases[word] for word in words if word in self.aliases}
        if self.lowercase_fallback:
            wanted.update(word.lower() for word in words)
        index, vectors = self._read_file(wanted)
        rows, status = align_by_word(words, index, self.lowercase_fallback, self.aliases)
        matrix = numpy.zeros((len(words), self.embedding_dim), dtype=numpy.float32)
        found = rows >= 0
        if vectors:
            matrix[found] = numpy.stack(vectors)[rows[found]]
        return matrix, status

    def _read_file(self, wanted: set) -> Tuple[Dict[str, int], List[numpy.ndarray]]:
        if not os.path.isfile(self.path):
            raise ConfigurationError(f"Target vector file {self.path}{variable_hint(self.path)} does not exist: check the path in the config")
        try:
            return self._parse(wanted)
        except (EOFError, OSError, zlib.error) as error:
            raise ConfigurationError(
                f"Could not read {self.path} ({error}): the file is probably truncated or not gzip-compressed "
                f"despite its name; copy or generate it again"
            ) from None

    def _parse(self, wanted: set) -> Tuple[Dict[str, int], List[numpy.ndarray]]:
        index: Dict[str, int] = {}
        vectors: List[numpy.ndarray] = []
        header_count: Optional[int] = None
        num_lines = duplicates = 0
        with _open(self.path) as stream:
            for line_number, raw in enumerate(Tqdm.tqdm(stream, desc=f"reading {os.path.basename(self.path)}"), 1):
                line = self._decode(raw, line_number)
                fields = line.rstrip().split(" ")
                if line_number == 1 and _is_header(fields):
                    header_count = int(fields[0])
                    self._check_dim(int(fields[1]), line_number)
                    continue
                if fields == [""]:
                    continue
                num_lines += 1
                self._check_dim(len(fields) - 1, line_number)
                word = fields[0]
                if word in index:
                    duplicates += 1
                elif word in wanted:
                    index[word] = len(vectors)
                    vectors.append(self._values(fields[1:], line_number))
        self._check_count(header_count, num_lines)
        if duplicates:
            logger.warning("%s has %d duplicate words; the first vector of each is used", self.path, duplicates)
        return index, vectors

    def _values(self, fields: List[str], line_number: int) -> numpy.ndarray:
        try:
            return numpy.array(fields, dtype=numpy.float32)
        except ValueError as error:
            raise ConfigurationError(
                f"{self.path}, line {line_number}, has a value that is not a number ({error}): "
                f"the file is corrupt; copy or generate it again"
            ) from None

    def _decode(self, raw: bytes, line_number: int) -> str:
        try:
            return raw.decode("utf-8-sig" if line_number == 1 else "utf-8")  # tolerate a byte-order mark
        except UnicodeDecodeError as error:
            raise ConfigurationError(
                f"{self.path}, line {line_number}, is not valid UTF-8 ({error.reason} at byte {error.start}): "
                f"re-encode the file as UTF-8 (e.g. with iconv)"
            ) from None

    def _check_dim(self, dim: int, line_number: int) -> None:
        if dim != self.embedding_dim:
            raise ConfigurationError(
                f"{self.path}, line {line_number}, has {dim}-dimensional vectors but the config says "
                f"embedding_dim={self.embedding_dim}: set embedding_dim to the file's dimension, or check the "
                f"file is not truncated or malformed (a word containing a space also causes this)"
            )

    def _check_count(self, header_count: Optional[int], num_lines: int) -> None:
        if num_lines == 0:
            raise ConfigurationError(f"Target vector file {self.path} holds no vectors")
        if header_count is not None and num_lines < header_count:
            raise ConfigurationError(
                f"{self.path} ends after {num_lines} vectors but its header announces {header_count}: "
                f"the file is truncated; copy or generate it again"
            )
        if header_count is not None and num_lines > header_count:
            logger.warning("%s has %d vectors, more than its header's %d", self.path, num_lines, header_count)


def _open(path: str) -> BinaryIO:
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _is_header(fields: List[str]) -> bool:
    return len(fields) == 2 and all(field.isdigit() for field in fields)
