"""
The `.ctt` format: compressed target tables (written by `allennlp compress-targets`,
read by the `compressed` `TargetEmbeddings` type, which decodes a batch's rows from
them on the fly).

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

Every product is decoded exactly rounded (`rounded_matmul`), so a row decodes to the
same bits in any batch, on any machine.

Since version 3, any method may keep its first `n` rows uncompressed: `exact`
`(n, dim)` float16 or float32 holds them, and `codes` then has `rows - n` rows,
those of rows `n` onwards.  Frequency-ordered tables (FastText and GloVe files,
AllenNLP vocabularies) put their most frequent words first, so a small exact head
covers most of the targets of a corpus.
"""
import json
import os
import struct
from typing import Any, Dict, List

import numpy
from allennlp.common.checks import ConfigurationError

from elmo_c.common.atomic import atomic_output_path
from elmo_c.compression.rounded_matmul import rounded_matmul

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
        return rounded_matmul(vectors, self._decoder["rotation"].T)

    def _decode_linear(self, codes: numpy.ndarray) -> numpy.ndarray:
        decoder = self._decoder
        values = codes.astype(numpy.float32)
        vectors = rounded_matmul(values, decoder["basis"]) + decoder["mean"]
        if "hidden_weight" in decoder:
            hidden = numpy.tanh(rounded_matmul(values, decoder["hidden_weight"]) + decoder["hidden_bias"])
            vectors += rounded_matmul(hidden, decoder["output_weight"])
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
