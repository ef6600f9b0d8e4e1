"""
Compressed target tables (`allennlp compress-targets`) and the `compressed`
`TargetEmbeddings` type that decodes a batch's rows from them on the fly.

A compressed table is one self-describing file (conventionally `*.ctt`):

```
b"ELMOCTT\\n"  uint64 (little-endian) header length  JSON header  arrays
```

The JSON header names the format and its version, the method, the number of rows
and their dimension, the options used, and for each array its dtype, shape and
byte offset in the file (a multiple of 64).  Every file holds `words` (the rows'
words, UTF-8, separated by newlines) and `codes` (one row per word), and:

- `subspace` (product quantisation): `codes` `(rows, stages * groups)` uint8
  (uint16 for more than 256 centroids) and `centroids`
  `(stages, groups, centroids, dim / groups)` float32 or float16 (or, as version 1
  wrote it, `(groups, centroids, dim / groups)` float32: one stage); a row is, summed
  over the (residual) stages, its groups' centroids side by side (stage `s`, group
  `g` is code `s * groups + g`).  An optional `rotation` `(dim, dim)` (float32, or
  float16 since version 3) maps that sum back: the row is `sum @ rotation.T`.  Rows
  quantised with the `normalize` option are directions (about unit length): their
  norms are not stored.
- `svd` and `autoencoder`: `codes` `(rows, k)` float16, `basis` `(k, dim)` and
  `mean` `(dim,)` float32; a row is `codes @ basis + mean`.  An autoencoder with a
  hidden layer adds `tanh(codes @ hidden_weight + hidden_bias) @ output_weight`
  (`(k, h)`, `(h,)`, `(h, dim)`, float32).

Every product is decoded exactly rounded (`_rounded_matmul`), so a row decodes to the
same bits in any batch, on any machine.

Since version 3, any method may keep its first `n` rows uncompressed: `exact`
`(n, dim)` float16 or float32 holds them, and `codes` then has `rows - n` rows,
those of rows `n` onwards.  Frequency-ordered tables (FastText and GloVe files,
AllenNLP vocabularies) put their most frequent words first, so a small exact head
covers most of the targets of a corpus.
"""
import json
import logging
import math
import os
import struct
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from elmo_c.common.atomic import atomic_output_path
from elmo_c.data.target_embeddings.target_embeddings import MISSING, TargetEmbeddings, align_by_word

logger = logging.getLogger(__name__)

MAGIC = b"ELMOCTT\n"
FORMAT_NAME = "elmo_c compressed targets"
# 2: residual stages, float16 centroids and a rotation (subspace); 3: exact rows, float16 rotation
FORMAT_VERSION = 3
READ_VERSIONS = (1, 2, 3)
METHODS = ("subspace", "svd", "autoencoder")
_PREFIX = struct.Struct("<8sQ")
_ALIGNMENT = 64
_HIDDEN_ARRAYS = ("hidden_weight", "hidden_bias", "output_weight")
_OPTIONAL_ARRAYS = {"subspace": {"rotation", "exact"}, "svd": {"exact"}, "autoencoder": {"exact", *_HIDDEN_ARRAYS}}
_FLOATS = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float16))
_REQUIRED_ARRAYS = {
    "subspace": {"words", "codes", "centroids"},
    "svd": {"words", "codes", "basis", "mean"},
    "autoencoder": {"words", "codes", "basis", "mean"},
}
_DECODE_CHUNK_ROWS = 65536
_PRODUCT_BLOCK_ROWS = 256  # rows per float64 block of `_rounded_matmul` (its temporaries stay in cache)


def write_compressed_targets(
    path: str, method: str, words: List[str], dim: int, arrays: Dict[str, numpy.ndarray], options: Dict[str, Any]
) -> int:
    """
    Writes a compressed table atomically (nothing at `path` until it is complete).
    The arrays are written as given: `CompressedTargetFile` validates them.

    # Parameters

    path : `str`
    method : `str`
        `"subspace"`, `"svd"` or `"autoencoder"`.
    words : `List[str]`
        The word of each row (no newlines).
    dim : `int`
        The dimension of the decoded vectors.
    arrays : `Dict[str, numpy.ndarray]`
        `codes` and the method's decoder arrays (see the module's docstring).
    options : `Dict[str, Any]`
        Recorded in the header (JSON-serialisable).

    # Returns

    `int`
        The size of the written file in bytes.
    """
    bad = [word for word in words if "\n" in word]
    if bad:
        raise ConfigurationError(f"Cannot write {path}: words may not contain a newline, e.g. {bad[0]!r}")
    all_arrays = dict(arrays, words=numpy.frombuffer("\n".join(words).encode("utf-8"), dtype=numpy.uint8))
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "method": method,
        "num_rows": len(words),
        "dim": int(dim),
        "options": options,
        "arrays": {},
    }
    header_bytes = _layout(header, all_arrays)
    with atomic_output_path(path) as temporary:
        with open(temporary, "wb") as stream:
            stream.write(_PREFIX.pack(MAGIC, len(header_bytes)))
            stream.write(header_bytes)
            for name, array in all_arrays.items():
                stream.write(b"\0" * (header["arrays"][name]["offset"] - stream.tell()))
                stream.write(numpy.ascontiguousarray(array).tobytes())
    return os.path.getsize(path)


def _layout(header: Dict[str, Any], arrays: Dict[str, numpy.ndarray]) -> bytes:
    """Fills in the arrays' offsets (which depend on the header's own length)."""
    for _ in range(10):
        header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
        position = _PREFIX.size + len(header_bytes)
        layout = {}
        for name, array in arrays.items():
            position = -(-position // _ALIGNMENT) * _ALIGNMENT
            layout[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": position}
            position += array.nbytes
        if layout == header["arrays"]:
            return header_bytes
        header["arrays"] = layout
    raise AssertionError("the header's layout did not converge")


class CompressedTargetFile:
    """
    A compressed table, validated when opened.  `codes` stay memory-mapped (or are
    read into memory), the decoder's small arrays are read into memory, and
    `decode(rows)` decodes only the rows asked for.

    # Parameters

    path : `str`
    memory_map : `bool`, optional (default = `True`)
        Memory-map the codes instead of reading them into memory.
    """

    def __init__(self, path: str, memory_map: bool = True) -> None:
        self.path = path
        self.header = self._read_header()
        self.method: str = self.header["method"]
        self.num_rows: int = self.header["num_rows"]
        self.dim: int = self.header["dim"]
        self._specs: Dict[str, Dict[str, Any]] = self.header["arrays"]
        self._check_arrays()
        self.codes = self._array("codes", memory_map)
        self._decoder = {name: self._array(name, False) for name in self._specs if name not in ("codes", "words")}
        self._check_decoder()
        self._exact = self._decoder.pop("exact", numpy.zeros((0, self.dim), dtype=numpy.float32))

    # -- public interface -------------------------------------------------------------

    @property
    def payload_bytes(self) -> int:
        """Bytes of the codes and decoder: what a training process holds."""
        return sum(_nbytes(spec) for name, spec in self._specs.items() if name != "words")

    @property
    def exact_rows(self) -> int:
        """The number of leading rows stored uncompressed (no codes)."""
        return len(self._exact)

    def words(self) -> List[str]:
        """The word of each row."""
        blob = self._array("words", False).tobytes()
        try:
            words = blob.decode("utf-8").split("\n") if blob else [""]
        except UnicodeDecodeError as error:
            raise self._corrupt(f"its words are not valid UTF-8 ({error.reason})") from None
        if len(words) != self.num_rows:
            raise self._corrupt(f"it lists {len(words)} words for {self.num_rows} rows")
        return words

    def decode(self, rows: numpy.ndarray) -> numpy.ndarray:
        """The float32 vectors `(len(rows), dim)` of the given row numbers."""
        rows = numpy.asarray(rows, dtype=numpy.int64)
        if not self.exact_rows:
            return self._decode_codes(rows)
        vectors = numpy.empty((len(rows), self.dim), dtype=numpy.float32)
        exact = rows < self.exact_rows
        vectors[exact] = self._exact[rows[exact]]
        vectors[~exact] = self._decode_codes(rows[~exact] - self.exact_rows)
        return vectors

    def _decode_codes(self, code_rows: numpy.ndarray) -> numpy.ndarray:
        codes = numpy.asarray(self.codes[code_rows])
        try:
            with numpy.errstate(all="ignore"):  # checked below
                vectors = self._decode_subspace(codes) if self.method == "subspace" else self._decode_linear(codes)
        except IndexError:
            raise self._corrupt("it has codes beyond its number of centroids") from None
        if not numpy.isfinite(vectors).all():
            raise self._corrupt("it decodes to NaN or infinite values")
        return vectors

    def decode_all(self, chunk_rows: int = _DECODE_CHUNK_ROWS):
        """Yields `(start, vectors)` for consecutive chunks of the whole table."""
        for start in range(0, self.num_rows, chunk_rows):
            yield start, self.decode(numpy.arange(start, min(start + chunk_rows, self.num_rows)))

    # -- decoding ---------------------------------------------------------------------

    def _decode_subspace(self, codes: numpy.ndarray) -> numpy.ndarray:
        centroids = self._decoder["centroids"]
        centroids = centroids[None] if centroids.ndim == 3 else centroids  # version 1: one stage
        stages, groups = centroids.shape[:2]
        codes = codes.reshape(len(codes), stages, groups)
        # The stages are added one by one (elementwise): the same sums in any batch.
        vectors = centroids[0, numpy.arange(groups), codes[:, 0]].astype(numpy.float32)
        for stage in range(1, stages):
            vectors += centroids[stage, numpy.arange(groups), codes[:, stage]]
        vectors = vectors.reshape(len(codes), self.dim)
        if "rotation" not in self._decoder:
            return vectors
        return _rounded_matmul(vectors, self._decoder["rotation"].T)

    def _decode_linear(self, codes: numpy.ndarray) -> numpy.ndarray:
        decoder = self._decoder
        values = codes.astype(numpy.float32)
        vectors = _rounded_matmul(values, decoder["basis"]) + decoder["mean"]
        if "hidden_weight" in decoder:
            hidden = numpy.tanh(_rounded_matmul(values, decoder["hidden_weight"]) + decoder["hidden_bias"])
            vectors += _rounded_matmul(hidden, decoder["output_weight"])
        return vectors

    # -- reading and validation -------------------------------------------------------

    def _read_header(self) -> Dict[str, Any]:
        if not os.path.isfile(self.path):
            raise ConfigurationError(
                f"Compressed target file {self.path} does not exist: check the path in the config "
                f"(`allennlp compress-targets` makes one)"
            )
        self._size = os.path.getsize(self.path)
        with open(self.path, "rb") as stream:
            prefix = stream.read(_PREFIX.size)
            magic = prefix[: len(MAGIC)]
            if magic != MAGIC[: len(magic)] or not magic:
                raise ConfigurationError(
                    f"{self.path} is not a compressed target file (made by `allennlp compress-targets`): "
                    f"use the `npy`, `text` or `fasttext` type for other vector files"
                )
            if len(prefix) < _PREFIX.size:
                raise self._truncated(_PREFIX.size)
            _, header_length = _PREFIX.unpack(prefix)
            if _PREFIX.size + header_length > self._size:
                raise self._truncated(_PREFIX.size + header_length)
            raw = stream.read(header_length)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise self._corrupt(f"its header is not valid JSON ({error})") from None
        return self._check_header(header)

    def _check_header(self, header: Any) -> Dict[str, Any]:
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise ConfigurationError(
                f"{self.path} is not a compressed target file (its header names no '{FORMAT_NAME}' format): "
                f"make one with `allennlp compress-targets`"
            )
        if header.get("version") not in READ_VERSIONS:
            versions = ", ".join(str(version) for version in READ_VERSIONS)
            raise ConfigurationError(
                f"{self.path} has format version {header.get('version')!r} but this elmo_c reads versions "
                f"{versions}: compress the vectors again with this version (or use the elmo_c that wrote it)"
            )
        if header.get("method") not in METHODS:
            raise self._corrupt(f"its method {header.get('method')!r} is none of {', '.join(METHODS)}")
        for key in ("num_rows", "dim"):
            if not isinstance(header.get(key), int) or header[key] < 1:
                raise self._corrupt(f"its {key} is {header.get(key)!r}, not a positive integer")
        if not isinstance(header.get("arrays"), dict):
            raise self._corrupt("its header lists no arrays")
        return header

    def _check_arrays(self) -> None:
        names = set(self._specs)
        allowed = _REQUIRED_ARRAYS[self.method] | _OPTIONAL_ARRAYS[self.method]
        if not _REQUIRED_ARRAYS[self.method] <= names <= allowed:
            raise self._corrupt(f"it has the arrays {sorted(names)}, but {self.method} needs {sorted(allowed)}")
        if names & set(_HIDDEN_ARRAYS) and not set(_HIDDEN_ARRAYS) <= names:
            raise self._corrupt(f"it has only some of the hidden-layer arrays {list(_HIDDEN_ARRAYS)}")
        for name, spec in self._specs.items():
            self._check_spec(name, spec)
        end = max(spec["offset"] + _nbytes(spec) for spec in self._specs.values())
        if end > self._size:
            raise self._truncated(end)
        self._check_exact_shape()
        if self.method == "subspace":
            self._check_subspace_shapes()
        else:
            self._check_linear_shapes()

    def _check_exact_shape(self) -> None:
        exact = self._specs.get("exact", {"shape": (0, self.dim), "dtype": numpy.float32})
        shape = exact["shape"]
        if len(shape) != 2 or shape[1] != self.dim or shape[0] > self.num_rows or exact["dtype"] not in _FLOATS:
            limit = f"(at most {self.num_rows}, {self.dim})"
            raise self._corrupt(f"its exact rows are {exact['dtype']} {shape}, not float32 or float16 {limit}")
        self._coded_rows = self.num_rows - shape[0]

    def _check_spec(self, name: str, spec: Any) -> None:
        try:
            dtype = numpy.dtype(spec["dtype"])
            shape = tuple(spec["shape"])
            offset = spec["offset"]
        except (TypeError, KeyError, ValueError):
            raise self._corrupt(f"its header describes the array '{name}' as {spec!r}") from None
        if dtype.hasobject or not all(isinstance(n, int) and n >= 0 for n in shape + (offset,)):
            raise self._corrupt(f"its header describes the array '{name}' as {spec!r}")
        spec["dtype"], spec["shape"] = dtype, shape

    def _check_subspace_shapes(self) -> None:
        codes, centroids = self._specs["codes"], self._specs["centroids"]
        shape = centroids["shape"]
        if len(shape) not in (3, 4) or centroids["dtype"] not in (numpy.float32, numpy.float16):
            raise self._corrupt(f"its centroids are {centroids['dtype']} {shape}, not float32 or float16 3-d or 4-d")
        stages, groups, num_centroids, width = shape if len(shape) == 4 else (1,) + shape
        if groups * width != self.dim:
            raise self._corrupt(
                f"its {groups} groups of {width} dimensions do not make its dimension {self.dim} "
                f"(the groups must divide the dimension)"
            )
        if codes["shape"] != (self._coded_rows, stages * groups):
            raise self._corrupt(f"its codes have shape {codes['shape']}, not ({self._coded_rows}, {stages * groups})")
        square = (self.dim, self.dim)
        rotation = self._specs.get("rotation", {"shape": square, "dtype": numpy.float32})
        if rotation["shape"] != square or rotation["dtype"] not in _FLOATS:
            raise self._corrupt(
                f"its rotation is {rotation['dtype']} {rotation['shape']}, not float32 or float16 {square}"
            )
        capacity = {numpy.dtype(numpy.uint8): 256, numpy.dtype(numpy.uint16): 65536}.get(codes["dtype"])
        if capacity is None:
            raise self._corrupt(f"its codes are {codes['dtype']}, not uint8 or uint16")
        if not 1 <= num_centroids <= capacity:
            raise self._corrupt(
                f"its {codes['dtype']} codes cannot index {num_centroids} centroids per group "
                f"(at most {capacity})"
            )

    def _check_linear_shapes(self) -> None:
        codes = self._specs["codes"]
        if codes["dtype"] != numpy.float16 or len(codes["shape"]) != 2 or codes["shape"][0] != self._coded_rows:
            raise self._corrupt(f"its codes are {codes['dtype']} {codes['shape']}, not float16 ({self._coded_rows}, k)")
        k = codes["shape"][1]
        hidden = self._specs["hidden_bias"]["shape"][0] if "hidden_bias" in self._specs else 0
        expected = {"basis": (k, self.dim), "mean": (self.dim,)}
        if hidden:
            expected.update(hidden_weight=(k, hidden), hidden_bias=(hidden,), output_weight=(hidden, self.dim))
        for name, shape in expected.items():
            spec = self._specs[name]
            if spec["shape"] != shape or spec["dtype"] != numpy.float32:
                raise self._corrupt(f"its {name} is {spec['dtype']} {spec['shape']}, not float32 {shape}")

    def _check_decoder(self) -> None:
        for name, array in self._decoder.items():
            if not numpy.isfinite(array).all():
                raise self._corrupt(f"its {name} has NaN or infinite values")

    def _array(self, name: str, memory_map: bool) -> numpy.ndarray:
        spec = self._specs[name]
        dtype, shape, offset = spec["dtype"], spec["shape"], spec["offset"]
        if memory_map and _nbytes(spec) > 0:
            return numpy.memmap(self.path, dtype=dtype, mode="r", offset=offset, shape=shape)
        count = int(numpy.prod(shape))
        return numpy.fromfile(self.path, dtype=dtype, count=count, offset=offset).reshape(shape)

    def _corrupt(self, problem: str) -> ConfigurationError:
        return ConfigurationError(
            f"{self.path} is not a valid compressed target file: {problem}; compress the vectors again"
        )

    def _truncated(self, expected: int) -> ConfigurationError:
        return ConfigurationError(
            f"{self.path} is truncated: it has {self._size} bytes but its header announces at least {expected}; "
            f"copy or compress it again"
        )


def _nbytes(spec: Dict[str, Any]) -> int:
    return int(numpy.prod(spec["shape"])) * numpy.dtype(spec["dtype"]).itemsize


def _rounded_matmul(a: numpy.ndarray, b: numpy.ndarray) -> numpy.ndarray:
    """
    `a @ b` for `(n, k)` and `(k, d)` arrays of float32 (or float16) values, each element
    the exact sum of its products rounded to the nearest float32 (ties to even; zero is
    0.0, never -0.0): a function of its row of `a` and of `b` only.  A row so decodes to
    the same bits in any batch, at any position in it, with any BLAS and number of threads.
    Float32 `a @ b` does not: BLAS picks its kernels, and with them the order of the sums,
    by the shapes (a matrix-vector product for one row, blocks and their edges for more),
    and so may `numpy.einsum`.

    Products of float32 values are exact in float64, so float64 BLAS computes each element,
    whatever its order of summation, within `(k - 1) 2**-53 sum_j |a_ij b_jl|` of the exact
    sum, and that sum is at most `|a_i| |b_l|` (Cauchy-Schwarz).  Where the float32 values
    on either side of that interval are the same, it is the exact sum's too (rounding is
    monotonic); the few other elements are settled by `_round_elements`.
    """
    a = numpy.asarray(a, dtype=numpy.float32)
    b = numpy.asarray(b, dtype=numpy.float32)
    right = b.astype(numpy.float64)
    columns = numpy.ascontiguousarray(b.T)
    column_norms = _norms(columns)
    out = numpy.empty((len(a), b.shape[1]), dtype=numpy.float32)
    above = numpy.empty((min(len(a), _PRODUCT_BLOCK_ROWS), b.shape[1]), dtype=numpy.float32)
    for start in range(0, len(a), _PRODUCT_BLOCK_ROWS):
        rows = a[start : start + _PRODUCT_BLOCK_ROWS]
        rounded, upper = out[start : start + len(rows)], above[: len(rows)]
        approximate = rows.astype(numpy.float64) @ right
        row_norms = _norms(rows)
        # One margin for the block: twice the error's bound plus the rounding of `approximate -/+ margin`
        # (relative 2**-53, and `approximate` is at most about the norms' product).
        margin = (len(b) + 1) * 2.0**-52 * row_norms.max(initial=0.0) * column_norms.max(initial=0.0)
        numpy.subtract(approximate, margin, out=rounded, casting="same_kind")  # float64, then rounded to float32
        numpy.add(approximate, margin, out=upper, casting="same_kind")
        unsure = numpy.flatnonzero(rounded != upper)  # (much faster than a 2-d `nonzero`)
        if len(unsure):
            row, column = numpy.divmod(unsure, rounded.shape[1])
            rounded[row, column] = _round_elements(rows, columns, approximate[row, column], row, column)
    out += 0.0  # -0.0 + 0.0 is 0.0: zero's sign would depend on the block's margin and on BLAS
    return out


def _round_elements(
    rows: numpy.ndarray, columns: numpy.ndarray, approximate: numpy.ndarray, row: numpy.ndarray, column: numpy.ndarray
) -> numpy.ndarray:
    """
    The elements `(row, column)` of `rows @ columns.T` (float32 values), given their float64
    BLAS values `approximate`, as their exact sums rounded to float32.
    """
    nearest = approximate.astype(numpy.float32)
    # The gap to the next float32 towards zero (the gap away from zero is no smaller); zero's is the smallest.
    magnitude = numpy.abs(nearest)
    gap = magnitude - numpy.maximum(magnitude.view(numpy.int32) - 1, 0).view(numpy.float32)
    numpy.maximum(gap, numpy.float32(2.0**-149), out=gap)
    # The element's own bound ((k - 1) 2**-53 with a margin for the norms' rounding): `approximate - nearest`
    # is exact (they are within a factor of 2) and rounding is monotonic, so this holds for the exact values.
    bound = (rows.shape[1] + 1) * 2.0**-53 * _norms(rows)[row] * _norms(columns)[column]
    settled = 2 * (numpy.abs(approximate - nearest) + bound) < gap
    if not settled.all():
        # Sums of products that are all multiples of `q` (the rows' and columns' lowest bits set) are exact
        # in float64, in any order, while at most `2**53 q`: then `approximate` is the exact sum (e.g. ties
        # of float16 values).
        unsettled = numpy.flatnonzero(~settled)
        unique_rows, row_index = numpy.unique(row[unsettled], return_inverse=True)
        unique_columns, column_index = numpy.unique(column[unsettled], return_inverse=True)
        row_spread = _norms(rows[unique_rows]) / _lowest_bits(rows[unique_rows])
        column_spread = _norms(columns[unique_columns]) / _lowest_bits(columns[unique_columns])
        settled[unsettled] = row_spread[row_index] * column_spread[column_index] <= 2.0**52
    for index in numpy.flatnonzero(~settled):
        terms = rows[row[index]].astype(numpy.float64) * columns[column[index]]
        if numpy.isfinite(terms).all():  # else the element is not finite either: rejected later
            nearest[index] = _round_sum(terms.tolist())
    return nearest


def _norms(vectors: numpy.ndarray) -> numpy.ndarray:
    return numpy.sqrt(numpy.square(vectors, dtype=numpy.float64).sum(axis=-1))


def _lowest_bits(vectors: numpy.ndarray) -> numpy.ndarray:
    """For each float32 vector, the value of the lowest bit set in its entries (infinite if all are zero)."""
    bits = vectors.view(numpy.int32) & 0x7FFFFFFF
    exponents = bits >> 23
    significands = (bits & 0x7FFFFF) | numpy.where(exponents > 0, 0x800000, 0)
    lowest = numpy.ldexp((significands & -significands).astype(numpy.float64), numpy.maximum(exponents, 1) - 150)
    lowest[significands == 0] = numpy.inf
    return lowest.min(axis=-1)


def _round_sum(terms: List[float]) -> numpy.float32:
    """The exact sum of `terms` rounded to the nearest float32 (ties to even)."""
    total = math.fsum(terms)  # the exact sum rounded to float64
    rounded = numpy.float32(total)
    if float(rounded) != total:
        # Rounding twice is rounding once, unless `total` is the midpoint between two float32
        # values: then the sign of what rounding to float64 dropped decides.
        other = numpy.nextafter(rounded, numpy.float32(math.copysign(math.inf, total - float(rounded))))
        if (float(rounded) + float(other)) / 2 == total:
            dropped = math.fsum(terms + [-total])
            if dropped != 0 and (dropped > 0) == (other > rounded):
                rounded = other
    return rounded


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
