import hashlib
import logging
import os
from typing import Dict, Iterator, List, Optional, Tuple

import numpy
import torch
from allennlp.common import Registrable
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from elmo_c.common.atomic import atomic_output_path
from elmo_c.config_defaults import fallback_notice
from elmo_c.data.counted_vocabulary import token_counts
from elmo_c.data.target_embeddings import postprocessing

logger = logging.getLogger(__name__)

# How each vocabulary word got its vector (stored per row, int8).
EXACT = 0
SUBWORD = 1
LOWERCASED = 2
MISSING = 3
STATUS_NAMES = {EXACT: "exact", SUBWORD: "subword", LOWERCASED: "lowercased", MISSING: "missing"}
# ELMo's sentence boundaries have no vector of their own in vectors trained on lines
# of text; FastText's end-of-line token "</s>" plays their role.
DEFAULT_ALIASES = {"<S>": "</s>", "</S>": "</s>"}
# Rows copied (or decoded) at a time when a table is moved to a device.
_COPY_CHUNK_ROWS = 65536


def default_cache_dir() -> str:
    return os.environ.get("ELMO_C_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "elmo_c", "targets"))


class TargetEmbeddings(Registrable):
    """
    The fixed, pretrained vectors that ELMo-C regresses: one row per word of a
    vocabulary namespace (not truncated), aligned once and cached on disk.

    They are deliberately *not* a `torch.nn.Module`: never a parameter, never in the
    optimizer or in a model's `state_dict`.  By default the table stays on the CPU
    (fp32 or fp16, memory-mapped from the cache) and `lookup` moves only a batch's
    rows to the device; with `device_resident` the whole table is copied once to the
    device of the first lookup there, and a lookup is a gather on the device.
    Nothing is read until the table is first used, so an archive can be loaded for
    downstream use without the vector file.

    On a GPU, a lookup in the CPU table has to bring the ids to the host: the one
    host synchronisation it cannot avoid (the host waits for the work queued before
    it).  The rows then go back through pinned memory, with a non-blocking copy, in
    the table's dtype (fp16 rows cross as fp16), and the validity of each row is
    gathered from a copy of the (one byte per word) mask kept on the device.  With
    `device_resident` there is neither the synchronisation nor the copy.

    Subclasses read one file format by implementing `_read_vectors` and setting
    `self.path`, the file that errors, logs and the cache key name.
    A format that is not a dense matrix (e.g. `compressed`) overrides `load` instead
    and installs a *row source* with `_set_table`: any object with a `shape` whose
    numpy-style indexing by an integer array or a slice returns those rows as a
    float array, so that `lookup` and `unit_chunks` only ever ask for a batch or a
    chunk.

    # Parameters

    vocab : `Vocabulary`
        Passed by the model; the rows follow `vocab`'s order for `namespace`.
    embedding_dim : `int`
        Dimension of the vectors; checked against the file when it is read.
    namespace : `str`, optional (default = `"tokens"`)
    dtype : `str`, optional (default = `"float32"`)
        `"float32"` or `"float16"` storage (lookups always return float32).
    mask_missing : `bool`, optional (default = `True`)
        Words with no vector are left out of the loss.  If `False`, they get the
        mean of the known vectors instead.
    memory_map : `bool`, optional (default = `True`)
        Memory-map the cached table instead of reading it into memory.
    cache_dir : `str`, optional (default = `$ELMO_C_CACHE` or `~/.cache/elmo_c/targets`)
        Where aligned tables are cached, keyed by file, vocabulary and options.
    aliases : `Dict[str, str]`, optional (default = `{"<S>": "</s>", "</S>": "</s>"}`)
        Words to look up under another name when the file lacks them.  By default
        ELMo's sentence boundaries, which no corpus contains, take the vector of
        FastText's end-of-line token `</s>` (in `.bin` and `.vec` files alike).
    normalize : `bool`, optional (default = `False`)
        Scale every vector to unit length (before and after centring).
    centre : `str`, optional (default = `None`)
        Subtract the vectors' mean, so that no common direction dominates the targets
        (see `postprocessing`): `"frequency"` weighs each word by its count in the
        training data (from a `counted` vocabulary; other vocabularies fall back to
        `"uniform"` with a warning), `"uniform"` weighs every word the same.  The
        training configs centre and normalise by default: on the Penn Treebank it is
        what lets the cosine loss learn the next word rather than the mean.
    remove_principal_directions : `int`, optional (default = `0`)
        After centring, also remove this many top principal directions
        ("all-but-the-top", Mu & Viswanath 2018).
    device_resident : `bool`, optional (default = `False`)
        Hold the whole table (in `dtype`) as a tensor on the device of the ids, so
        that a lookup is a pure gather there, with no host synchronisation and no
        copy per batch: the choice on a GPU when the table fits (800K x 300 in fp16
        is 0.5 GB).  It is copied the first time `lookup` meets that device (a
        compressed table is decoded then; on the CPU the table is read into memory
        instead of memory-mapped), and `unit_chunks` reads that copy.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        embedding_dim: int,
        namespace: str = "tokens",
        dtype: str = "float32",
        mask_missing: bool = True,
        memory_map: bool = True,
        cache_dir: Optional[str] = None,
        aliases: Optional[Dict[str, str]] = None,
        normalize: bool = False,
        centre: Optional[str] = None,
        remove_principal_directions: int = 0,
        device_resident: bool = False,
    ) -> None:
        if dtype not in ("float32", "float16"):
            raise ConfigurationError(f'target embeddings dtype must be "float32" or "float16", not "{dtype}"')
        if embedding_dim <= 0:
            raise ConfigurationError(f"target embeddings need a positive embedding_dim, got {embedding_dim}")
        self.vocab = vocab
        self.namespace = namespace
        self.embedding_dim = embedding_dim
        self.dtype = dtype
        self.mask_missing = mask_missing
        self.memory_map = memory_map
        self.cache_dir = cache_dir or default_cache_dir()
        self.aliases = dict(DEFAULT_ALIASES if aliases is None else aliases)
        postprocessing.check_options(centre, remove_principal_directions, embedding_dim)
        if centre is not None and not mask_missing:
            raise ConfigurationError(
                "mask_missing=false gives words without a vector the mean vector, which centring makes "
                "(nearly) zero: keep mask_missing=true with centre"
            )
        self.normalize = normalize
        self.centre = centre
        self.remove_principal_directions = remove_principal_directions
        self._warned_uniform = False
        self.device_resident = device_resident
        self._matrix: Optional[numpy.ndarray] = None
        self._valid: Optional[numpy.ndarray] = None
        # Tensor copies, by device: the whole table (device_resident) and the validity mask.
        self._device_tables: Dict[torch.device, torch.Tensor] = {}
        self._device_valid: Dict[torch.device, torch.Tensor] = {}

    # -- what a file format implements ------------------------------------------------

    @property
    def source_path(self) -> str:
        return self.path

    def _read_vectors(self, words: List[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
        """
        Returns a float32 matrix `(len(words), embedding_dim)` and an int8 status per
        row (`EXACT`, `SUBWORD`, `LOWERCASED` or `MISSING`, whose rows are zero).
        Raises `ConfigurationError` naming `source_path` for unreadable files.
        """
        raise NotImplementedError

    def _cache_options(self) -> str:
        """Options of the subclass that change the aligned table."""
        return ""

    # -- public interface -------------------------------------------------------------

    @property
    def num_rows(self) -> int:
        return self.vocab.get_vocab_size(self.namespace)

    def load(self) -> None:
        """Reads (or fetches from the cache) the aligned table; idempotent."""
        if self._matrix is not None:
            return
        notice = fallback_notice(self.source_path)
        if notice:
            logger.warning(notice)
        words = self._vocab_words()
        cache_path = self._cache_path(words)
        cached = self._load_cache(cache_path, len(words))
        if cached is None:
            self._save_cache(cache_path, *self._aligned_table(words))
            cached = self._load_cache(cache_path, len(words))
            assert cached is not None, f"could not read back {cache_path}"
        else:
            logger.info("Target vectors for %s read from the cache %s.npy", self.source_path, cache_path)
        self._set_table(*cached)

    def read_table(self) -> Tuple[List[str], numpy.ndarray, numpy.ndarray]:
        """
        Reads and aligns the whole namespace from the file, bypassing the cache (for
        tools that convert the vectors, such as `compress-targets`): the words, the
        matrix (in `dtype`) and the status of each row.
        """
        words = self._vocab_words()
        matrix, status = self._aligned_table(words)
        self._log_coverage(status)
        return words, matrix, status

    def _vocab_words(self) -> List[str]:
        return [self.vocab.get_token_from_index(i, self.namespace) for i in range(self.num_rows)]

    def _set_table(self, rows, status: numpy.ndarray) -> None:
        """Installs the aligned rows (a matrix or a row source) and their status."""
        self._log_coverage(status)
        self._matrix = rows
        self._device_tables, self._device_valid = {}, {}
        if self.mask_missing:
            self._valid = status != MISSING
        else:
            self._valid = numpy.ones(len(status), dtype=bool)
            self._valid[self._special_rows()] = False

    def lookup(self, ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        The rows for `ids` (any shape), as float32 on `ids`' device, and whether each
        row is a valid target (padding, the OOV token and, with `mask_missing`, words
        without a vector are not).

        With ids on a GPU this synchronises with the host (the ids index the CPU
        table) unless the table is `device_resident`; see the class docstring.
        """
        self.load()
        valid = self._valid_on(ids.device)[ids]
        if self.device_resident:
            return self._table_on(ids.device)[ids].float(), valid
        return self._rows_from_host(ids), valid

    def _rows_from_host(self, ids: torch.Tensor) -> torch.Tensor:
        """The rows of `ids` from the CPU table: device ids to the host (a synchronisation), rows back without one."""
        host_ids = ids.detach().reshape(-1).cpu().numpy()
        rows = torch.from_numpy(numpy.ascontiguousarray(self._matrix[host_ids]))
        if ids.device.type == "cuda":
            rows = rows.pin_memory()  # PyTorch's caching host allocator: no new pinned allocation per batch
        rows = rows.to(ids.device, non_blocking=True).float()
        return rows.view(*ids.shape, self.embedding_dim)

    def _valid_on(self, device: torch.device) -> torch.Tensor:
        """The validity mask as a tensor on `device` (copied there once)."""
        device = _concrete(device)
        if device not in self._device_valid:
            self._device_valid[device] = torch.from_numpy(self._valid).to(device)
        return self._device_valid[device]

    def _table_on(self, device: torch.device) -> torch.Tensor:
        """The whole table in `dtype` on `device`, copied once (in chunks: a compressed table is decoded piecewise)."""
        device = _concrete(device)
        if device not in self._device_tables:
            self._device_tables[device] = self._copy_table_to(device)
        return self._device_tables[device]

    def _copy_table_to(self, device: torch.device) -> torch.Tensor:
        dtype = getattr(torch, self.dtype)
        size_mb = self.num_rows * self.embedding_dim * torch.finfo(dtype).bits / 8 / 2**20
        try:
            table = torch.empty((self.num_rows, self.embedding_dim), dtype=dtype, device=device)
        except torch.OutOfMemoryError as error:
            raise ConfigurationError(
                f"The target table of {self.source_path} ({size_mb:.0f} MiB in {self.dtype}) does not fit on "
                f"{device}: set device_resident to false (the table then stays on the CPU), or use dtype float16"
            ) from error
        for start in range(0, self.num_rows, _COPY_CHUNK_ROWS):
            # A copy: a slice of the read-only memory map is not writable, which torch warns about.
            chunk = numpy.array(self._matrix[start : start + _COPY_CHUNK_ROWS], dtype=self.dtype)
            table[start : start + len(chunk)].copy_(torch.from_numpy(chunk))
        logger.info("Target table of %s (%.0f MiB) copied to %s", self.source_path, size_mb, device)
        return table

    def unit_chunks(self, chunk_size: int, device: torch.device) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """
        The whole table in chunks of `chunk_size` rows, L2-normalised, float32, on
        `device`, each with its validity mask: for nearest-neighbour search without
        holding a second full-size copy of the table.  A device-resident copy that
        `lookup` made on `device` is read there.
        """
        self.load()
        device = _concrete(torch.device(device))
        resident = self._device_tables.get(device) if self.device_resident else None
        for start in range(0, self.num_rows, chunk_size):
            if resident is not None:
                chunk = resident[start : start + chunk_size].float()
                valid = self._valid_on(device)[start : start + chunk_size]
            else:
                # A copy: a slice of the read-only memory map is not writable, which torch warns about.
                chunk = torch.from_numpy(numpy.array(self._matrix[start : start + chunk_size], dtype=numpy.float32))
                valid = torch.from_numpy(self._valid[start : start + chunk_size])
            yield torch.nn.functional.normalize(chunk.to(device), dim=-1), valid.to(device)

    # -- alignment, validation and caching --------------------------------------------

    def _special_rows(self) -> List[int]:
        specials = [self.vocab._padding_token, self.vocab._oov_token]
        token_to_index = self.vocab.get_token_to_index_vocabulary(self.namespace)
        return [token_to_index[token] for token in specials if token in token_to_index]

    def _aligned_table(self, words: List[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
        matrix, status = self._read_vectors(words)
        self._check_shape(matrix.shape, len(words))
        special_rows = self._special_rows()
        matrix[special_rows] = 0.0
        status[special_rows] = MISSING
        self._check_finite(matrix, words)
        zero_rows = (status != MISSING) & ~matrix.any(axis=1)
        if zero_rows.any():
            logger.warning(
                "%d words have an all-zero vector in %s (e.g. %s); they are treated as missing",
                int(zero_rows.sum()), self.source_path, _examples(words, zero_rows),
            )
            status[zero_rows] = MISSING
        self._check_coverage(status)
        if self.normalize or self.centre:
            matrix = postprocessing.postprocess(
                matrix, status != MISSING, self._frequencies(), self.normalize, self.centre,
                self.remove_principal_directions,
            )
        if not self.mask_missing:
            matrix[status == MISSING] = matrix[status != MISSING].mean(axis=0)
        return self._cast(matrix), status

    def _frequencies(self) -> Optional[numpy.ndarray]:
        """The training counts of the namespace's words, if the vocabulary has them and they are needed."""
        if self.centre != "frequency":
            return None
        counts = token_counts(self.vocab, self.namespace)
        if counts is None and not self._warned_uniform:
            self._warned_uniform = True
            logger.warning(
                "centre='frequency' needs word counts, which this vocabulary lacks (use the `counted` "
                "vocabulary); the target vectors of %s are centred with every word weighing the same",
                self.source_path,
            )
        return counts

    def _postprocessing_key(self) -> str:
        if not (self.normalize or self.centre):
            return ""
        counts = self._frequencies()
        counts_digest = hashlib.sha256(counts.tobytes()).hexdigest() if counts is not None else "none"
        return f"normalize={self.normalize}:centre={self.centre}:{self.remove_principal_directions}:{counts_digest}"

    def _check_shape(self, shape: Tuple[int, ...], num_rows: int) -> None:
        if tuple(shape) != (num_rows, self.embedding_dim):
            raise ConfigurationError(
                f"{self.source_path} gave vectors of shape {tuple(shape[1:])} but the config says "
                f"embedding_dim={self.embedding_dim}: set embedding_dim to {shape[-1]} or use other vectors"
            )

    def _check_coverage(self, status: numpy.ndarray) -> None:
        if not (status != MISSING).any():
            raise ConfigurationError(
                f"None of the {len(status)} words of namespace '{self.namespace}' has a vector in "
                f"{self.source_path}: is it the right file, with the same tokenisation and casing as the corpus?"
            )

    def _cast(self, matrix: numpy.ndarray) -> numpy.ndarray:
        stored = matrix.astype(self.dtype)
        if not numpy.isfinite(stored).all():
            raise ConfigurationError(
                f"{self.source_path} has values too large for {self.dtype} (largest magnitude "
                f"{float(numpy.abs(matrix).max()):g}): use dtype float32"
            )
        return stored

    def _check_finite(self, matrix: numpy.ndarray, words: List[str]) -> None:
        bad_rows = ~numpy.isfinite(matrix).all(axis=1)
        if bad_rows.any():
            raise ConfigurationError(
                f"{self.source_path} has NaN or infinite values in {int(bad_rows.sum())} vectors "
                f"(e.g. {_examples(words, bad_rows)}): fix or regenerate the file"
            )

    def _log_coverage(self, status: numpy.ndarray) -> None:
        counts = numpy.bincount(status, minlength=len(STATUS_NAMES))
        total = max(len(status), 1)
        summary = ", ".join(
            f"{counts[code]} {name} ({100.0 * counts[code] / total:.1f}%)" for code, name in STATUS_NAMES.items()
        )
        fate = "masked out of the loss" if self.mask_missing else "replaced by the mean vector"
        logger.info(
            "Target vectors for %d words of '%s' from %s: %s; missing targets are %s",
            len(status), self.namespace, self.source_path, summary, fate,
        )

    def _cache_path(self, words: List[str]) -> str:
        stat = os.stat(self.source_path) if os.path.exists(self.source_path) else None
        key = hashlib.sha256()
        for part in (
            type(self).__name__,
            os.path.abspath(self.source_path),
            f"{stat.st_size}:{stat.st_mtime_ns}" if stat else "absent",
            self.dtype,
            str(self.embedding_dim),
            str(self.mask_missing),
            self._cache_options(),
            repr(sorted(self.aliases.items())),
            self._postprocessing_key(),
            "\n".join(words),
        ):
            key.update(part.encode("utf-8", "surrogateescape"))
            key.update(b"\0")
        name = os.path.basename(self.source_path)
        return os.path.join(self.cache_dir, f"{name}.{key.hexdigest()[:20]}")

    def _load_cache(self, cache_path: str, num_rows: int) -> Optional[Tuple[numpy.ndarray, numpy.ndarray]]:
        if not os.path.exists(cache_path + ".status.npy"):
            return None
        try:
            matrix = numpy.load(cache_path + ".npy", mmap_mode="r" if self.memory_map else None)
            status = numpy.load(cache_path + ".status.npy")
        except (OSError, ValueError, EOFError) as error:
            logger.warning("Ignoring the unreadable target cache %s (%s); rebuilding it", cache_path, error)
            return None
        if matrix.shape != (num_rows, self.embedding_dim) or status.shape != (num_rows,):
            logger.warning("Ignoring the target cache %s, whose shape does not match; rebuilding it", cache_path)
            return None
        return matrix, status

    def _save_cache(self, cache_path: str, matrix: numpy.ndarray, status: numpy.ndarray) -> None:
        os.makedirs(self.cache_dir, exist_ok=True)
        # The status file is written last: its presence marks a complete cache entry.
        _atomic_save(cache_path + ".npy", matrix)
        _atomic_save(cache_path + ".status.npy", status.astype(numpy.int8))


def _concrete(device: torch.device) -> torch.device:
    """`device` with its index (`cuda` is the current CUDA device), so that each device has one key."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def _atomic_save(path: str, array: numpy.ndarray) -> None:
    with atomic_output_path(path) as temporary, open(temporary, "wb") as stream:
        numpy.save(stream, array)


def _examples(words: List[str], rows: numpy.ndarray, limit: int = 5) -> str:
    return ", ".join(repr(words[i]) for i in numpy.flatnonzero(rows)[:limit])


def align_by_word(
    words: List[str], index: Dict[str, int], lowercase_fallback: bool, aliases: Optional[Dict[str, str]] = None
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """
    For file formats without subwords: the row of each word in a word -> row
    `index` (-1 if absent) and its status (`EXACT`, `LOWERCASED` or `MISSING`).
    A word absent from `index` is looked up under its alias first (`EXACT`), then
    lowercased.
    """
    aliases = aliases or {}
    rows = numpy.full(len(words), -1, dtype=numpy.int64)
    status = numpy.full(len(words), MISSING, dtype=numpy.int8)
    for i, word in enumerate(words):
        row = index.get(word)
        if row is None and word in aliases:
            row = index.get(aliases[word])
        if row is not None:
            rows[i], status[i] = row, EXACT
        elif lowercase_fallback and word.lower() in index:
            rows[i], status[i] = index[word.lower()], LOWERCASED
    return rows, status
