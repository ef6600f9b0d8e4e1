"""
The `compressed` `TargetEmbeddings` type: target vectors decoded a batch's rows at a
time from a compressed table (`allennlp compress-targets`).  The table's `.ctt`
format (its writer and `CompressedTargetFile`, its reader and decoder) is in
`elmo_c.compression.ctt_format`, and re-exported here.
"""
import logging
from typing import Dict, Optional, Tuple, Union

import numpy
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from elmo_c.compression.ctt_format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAGIC,
    METHODS,
    READ_VERSIONS,
    CompressedTargetFile,
    write_compressed_targets,
)
from elmo_c.data.target_embeddings.target_embeddings import MISSING, TargetEmbeddings, align_by_word

logger = logging.getLogger(__name__)

# The format's names are re-exported: they were defined here before `elmo_c.compression`.
__all__ = [
    "CompressedRows",
    "CompressedTargetEmbeddings",
    "CompressedTargetFile",
    "write_compressed_targets",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAGIC",
    "METHODS",
    "READ_VERSIONS",
]


class CompressedRows:
    """
    A row source for `TargetEmbeddings`: the vocabulary's rows, decoded from a
    compressed table when indexed (an integer array, a slice or an integer).  Rows
    of words the table lacks are zero, or `fill`.

    # Parameters

    source : `CompressedTargetFile`
    file_rows : `numpy.ndarray`
        For each vocabulary row, its row in `source` or -1.
    fill : `numpy.ndarray`, optional (default = `None`)
        The vector of rows without one (default zeros).
    """

    def __init__(self, source: CompressedTargetFile, file_rows: numpy.ndarray, fill: Optional[numpy.ndarray] = None):
        self.source = source
        self.file_rows = file_rows
        self.fill = numpy.zeros(source.dim, dtype=numpy.float32) if fill is None else fill.astype(numpy.float32)
        self.shape = (len(file_rows), source.dim)
        self.dtype = numpy.dtype(numpy.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Union[int, slice, numpy.ndarray]) -> numpy.ndarray:
        if isinstance(key, slice):
            file_rows = self.file_rows[key]
        else:
            file_rows = numpy.atleast_1d(self.file_rows[numpy.asarray(key)])
        found = file_rows >= 0
        rows = numpy.tile(self.fill, (len(file_rows), 1))
        if found.any():
            rows[found] = self.source.decode(file_rows[found])
        return rows[0] if numpy.ndim(key) == 0 and not isinstance(key, slice) else rows


@TargetEmbeddings.register("compressed")
class CompressedTargetEmbeddings(TargetEmbeddings):
    """
    Target vectors from a table compressed by `allennlp compress-targets`: only
    the codes are held (memory-mapped), and `lookup` / `unit_chunks` decode just
    the rows of a batch / a chunk, so the full-size table never exists in memory.

    The table's words are aligned to the vocabulary when it is first used (no
    on-disk cache: alignment is cheap).  Words the table lacks are `MISSING` (their
    lowercased form is tried first with `lowercase_fallback`); the others are
    logged as `exact` or `lowercased`, whatever their status was when compressed.

    Registered as a `TargetEmbeddings` with name "compressed".

    # Parameters

    vocab : `Vocabulary`
    path : `str`
        The compressed table (conventionally `*.ctt`).
    lowercase_fallback : `bool`, optional (default = `True`)
        Words absent from the table take the vector of their lowercased form.
    **kwargs
        See `TargetEmbeddings`.  `memory_map` applies to the codes; `dtype` and
        `cache_dir` have no effect (rows are decoded as float32, nothing is cached).
    """

    def __init__(self, vocab: Vocabulary, path: str, lowercase_fallback: bool = True, **kwargs) -> None:
        super().__init__(vocab, **kwargs)
        self.path = path
        self.lowercase_fallback = lowercase_fallback
        if self.normalize or self.centre:
            # Decoded a batch at a time, the table never exists whole to be centred.
            raise ConfigurationError(
                f"{path}: a compressed table cannot be normalised or centred when it is read; make it from "
                f"vectors that are (`compress-targets --normalize` keeps directions only) and set "
                f"normalize=false, centre=null"
            )

    def load(self) -> None:
        if self._matrix is not None:
            return
        source = CompressedTargetFile(self.path, memory_map=self.memory_map)
        self._check_shape((self.num_rows, source.dim), self.num_rows)
        file_rows, status = self._align(source)
        fill = None if self.mask_missing else self._mean_vector(source, file_rows)
        self._set_table(CompressedRows(source, file_rows, fill), status)

    def _align(self, source: CompressedTargetFile) -> Tuple[numpy.ndarray, numpy.ndarray]:
        """For each vocabulary row, its row in `source` (or -1) and its status."""
        index: Dict[str, int] = {}
        for row, word in enumerate(source.words()):
            index.setdefault(word, row)
        file_rows, status = align_by_word(self._vocab_words(), index, self.lowercase_fallback, self.aliases)
        special_rows = self._special_rows()
        file_rows[special_rows] = -1
        status[special_rows] = MISSING
        self._check_coverage(status)
        dtype = numpy.int32 if source.num_rows < 2**31 else numpy.int64
        return file_rows.astype(dtype), status

    @staticmethod
    def _mean_vector(source: CompressedTargetFile, file_rows: numpy.ndarray) -> numpy.ndarray:
        """The mean of the vocabulary's decoded vectors, decoded chunk by chunk."""
        counts = numpy.bincount(file_rows[file_rows >= 0], minlength=source.num_rows)
        total = numpy.zeros(source.dim, dtype=numpy.float64)
        for start, vectors in source.decode_all():
            total += counts[start : start + len(vectors)] @ vectors
        return (total / counts.sum()).astype(numpy.float32)
