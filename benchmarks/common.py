"""
What the benchmarks share: the scale of a run (`Config`: smoke, quick or full), the
synthetic corpus (`SyntheticCorpus`: a vocabulary of V word-like strings sorted by
frequency, target ids drawn from a Zipf distribution, a fixed random target table
and an 8K-piece subword model), the memory budget, and a description of the
machine.

Why synthetic: no corpus with an 800K-word vocabulary ships with the repository.
What matters for speed and memory is reproduced: the vocabulary size, ids sorted
by decreasing frequency (which the log-uniform sampler and the adaptive clusters
assume) and drawn with Zipf's law (p(rank r) ~ 1/r, as word frequencies in text),
so that frequent rows are reused as in real batches and the rare tail still shows
up, never uniformly.  Words are strings of syllables (ids in bijective base 100
over 100 consonant-vowel syllables: 100 one-syllable words first, then 10K of two
syllables, ...), so that the character CNN sees real characters and a BPE model
learns realistic pieces (about 2 per word).

Everything expensive to build (target tables, subword models) is cached under
`$ELMO_C_BENCH_CACHE` (default `~/.cache/elmo_c/benchmarks`).
"""
import datetime
import os
import platform
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

import numpy
import torch
from allennlp.data import Vocabulary

from benchmarks.intervals import MIN_ROUNDS
from elmo_c.data.target_embeddings import TargetEmbeddings

SYLLABLES = [consonant + vowel for consonant in "bcdfghjklmnprstvwxyz" for vowel in "aeiou"]
ZIPF_EXPONENT = 1.0
TARGET_DIM = 300
NUM_SAMPLES = 8192
SUBWORD_PIECES = 8000
PAPER_VOCAB = 800_000


@dataclass(frozen=True)
class ModelSize:
    """An encoder size: character CNN and LSTM, as in ELMo's published options."""

    name: str
    cell_size: int
    projection_dim: int
    filters: Tuple[Tuple[int, int], ...]
    num_highway: int


ELMO_FILTERS = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))
SIZES = {
    # Only for the smoke test: seconds, not minutes.
    "tiny": ModelSize("tiny", 32, 16, ((1, 8), (2, 8), (3, 16)), 1),
    # training_config/elmo_c_small.jsonnet, the CPU-sized model.
    "small": ModelSize("small", 512, 128, ((1, 32), (2, 32), (3, 64), (4, 128), (5, 128)), 1),
    # ELMo's "medium" model (elmo_2x2048_256_2048cnn_1xhighway).
    "medium": ModelSize("medium", 2048, 256, ELMO_FILTERS, 1),
    # The paper's model: training_config/elmo_c.jsonnet (ELMo's original sizes).
    "paper": ModelSize("paper", 4096, 512, ELMO_FILTERS, 2),
}


LOAD_AT_START = "load average (1, 5, 15 min) at start"  # a key of machine_description()


@dataclass
class Config:
    """
    The scale of a run.  `full` is what RESULTS.md is meant to hold; `quick` checks
    every benchmark in a few minutes on 2 cores (smaller batches and fewer sizes,
    same vocabulary sizes up to 800K); `smoke` is for the test suite.
    """

    mode: str
    device: torch.device
    cache_dir: str
    # 1. output layers
    output_vocab_sizes: List[int]
    output_targets: int = 1280
    output_input_dim: int = 512
    num_samples: int = NUM_SAMPLES
    full_softmax_max_vocab: Optional[int] = None  # larger vocabularies skip the full softmax (besides memory)
    # 2.-4. whole models, at this vocabulary size
    vocab_size: int = PAPER_VOCAB
    step_sizes: List[str] = field(default_factory=lambda: ["small"])
    batch_shape: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    parameter_sizes: List[str] = field(default_factory=lambda: ["small", "paper"])
    memory_sizes: List[str] = field(default_factory=lambda: ["small"])
    memory_steps: int = 2
    memory_variants: List[str] = field(default_factory=list)  # empty: all of variants.STEP_VARIANTS
    # 5. encoders, 6. embedders
    encoder_sizes: List[str] = field(default_factory=lambda: ["small"])
    embedder_sizes: List[str] = field(default_factory=lambda: ["small"])
    embedder_sentences: int = 128
    embedder_batch_size: int = 32
    subword_pieces: int = SUBWORD_PIECES
    warmup: int = 1
    repeats: int = 3
    memory_budget_bytes: float = 0.0
    seed: int = 0

    def batch(self, size: str) -> Tuple[int, int]:
        """(sentences, tokens per sentence) of a training batch for an encoder size."""
        return self.batch_shape.get(size, (64, 20))

    def corpus(self, vocab_size: Optional[int] = None) -> "SyntheticCorpus":
        """The synthetic corpus of this run, at `vocab_size` (default: the whole-model benchmarks')."""
        return SyntheticCorpus(vocab_size or self.vocab_size, self.cache_dir, self.seed)

    def repetitions(self, size: str, min_warmup: int = 0) -> Tuple[int, int]:
        """
        (warm-up steps, repeats) for an encoder size: the paper's on a CPU gets at most
        `MIN_ROUNDS` repeats (slow), the fewest from which an interval is reported.
        """
        repeats = min(self.repeats, MIN_ROUNDS) if size == "paper" and self.device.type == "cpu" else self.repeats
        return max(self.warmup, min_warmup), repeats


def make_config(
    mode: str = "quick",
    device: str = "cpu",
    cache_dir: Optional[str] = None,
    memory_budget_gb: Optional[float] = None,
) -> Config:
    """The settings of a `smoke`, `quick` or `full` run."""
    budget = memory_budget_gb * 2**30 if memory_budget_gb else 0.6 * available_memory_bytes(torch.device(device))
    base = Config(
        mode=mode,
        device=torch.device(device),
        cache_dir=cache_dir or default_cache_dir(),
        output_vocab_sizes=[10_000, 100_000, 800_000],
        memory_budget_bytes=budget,
    )
    if mode == "smoke":
        return replace(
            base,
            output_vocab_sizes=[2_000],
            output_targets=64,
            output_input_dim=32,
            num_samples=64,
            vocab_size=2_000,
            step_sizes=["tiny"],
            batch_shape={"tiny": (4, 8)},
            parameter_sizes=["tiny"],
            memory_sizes=["tiny"],
            memory_steps=1,
            memory_variants=["elmo_c", "elmo"],
            encoder_sizes=["tiny"],
            embedder_sizes=["tiny"],
            embedder_sentences=8,
            embedder_batch_size=4,
            subword_pieces=200,
            warmup=0,
            repeats=1,
        )
    if mode == "quick":
        return replace(
            base, full_softmax_max_vocab=10_000, batch_shape={"small": (32, 20)}, embedder_sentences=64, repeats=5
        )
    if mode == "full":
        return replace(
            base,
            output_vocab_sizes=[10_000, 100_000, 800_000, 2_000_000],
            step_sizes=["small", "medium", "paper"],
            batch_shape={"small": (64, 20), "medium": (64, 20), "paper": (64, 20)},
            parameter_sizes=["small", "medium", "paper"],
            memory_sizes=["small", "paper"],
            memory_steps=3,
            encoder_sizes=["small", "medium", "paper"],
            embedder_sizes=["small", "paper"],
            embedder_sentences=256,
            warmup=2,
            repeats=7,
        )
    raise ValueError(f"mode must be smoke, quick or full, not {mode!r}")


def default_cache_dir() -> str:
    return os.environ.get(
        "ELMO_C_BENCH_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "elmo_c", "benchmarks")
    )


# -- the synthetic corpus ------------------------------------------------------------------


def synthetic_word(rank: int) -> str:
    """The word of a 0-based frequency rank: `rank` in bijective base 100 over `SYLLABLES`."""
    syllables = []
    while True:
        syllables.append(SYLLABLES[rank % 100])
        rank = rank // 100 - 1
        if rank < 0:
            return "".join(syllables)


class SyntheticCorpus:
    """
    A vocabulary of `vocab_size` ids (padding, OOV, then `vocab_size - 2` words by
    decreasing frequency) with Zipf-distributed target ids, and lazily built
    resources of that vocabulary: the AllenNLP `Vocabulary`, the target table and
    the subword model.
    """

    def __init__(self, vocab_size: int, cache_dir: str, seed: int = 0) -> None:
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3, got {vocab_size}")
        self.vocab_size = vocab_size
        self.cache_dir = cache_dir
        self.seed = seed
        self.words = [synthetic_word(rank) for rank in range(vocab_size - 2)]
        weights = 1.0 / numpy.arange(1, vocab_size - 1, dtype=numpy.float64) ** ZIPF_EXPONENT
        self._cdf = numpy.cumsum(weights) / weights.sum()
        self._vocab: Optional[Vocabulary] = None

    def rng(self, stream: int = 0) -> numpy.random.Generator:
        return numpy.random.default_rng([self.seed, stream])

    def sample_ids(self, shape: Tuple[int, ...], rng: numpy.random.Generator) -> numpy.ndarray:
        """Word ids (2 .. vocab_size - 1) drawn from Zipf's law."""
        ranks = numpy.searchsorted(self._cdf, rng.random(shape), side="right")
        return numpy.minimum(ranks, len(self._cdf) - 1) + 2

    def word(self, word_id: int) -> str:
        return self.words[word_id - 2]

    @property
    def vocab(self) -> Vocabulary:
        """The AllenNLP `Vocabulary`: namespace `tokens` with these ids."""
        if self._vocab is None:
            self._vocab = Vocabulary()
            self._vocab.add_tokens_to_namespace(self.words, "tokens")
            assert self._vocab.get_vocab_size("tokens") == self.vocab_size
        return self._vocab

    def target_table_path(self, dim: int = TARGET_DIM) -> str:
        """A cached `(vocab_size, dim)` float32 `.npy` of random unit-variance vectors."""
        path = os.path.join(self.cache_dir, f"targets_V{self.vocab_size}_d{dim}_seed{self.seed}.npy")
        if not os.path.exists(path):
            os.makedirs(self.cache_dir, exist_ok=True)
            table = numpy.lib.format.open_memmap(path + ".tmp.npy", "w+", numpy.float32, (self.vocab_size, dim))
            rng = self.rng(stream=1)
            for start in range(0, self.vocab_size, 100_000):
                stop = min(start + 100_000, self.vocab_size)
                table[start:stop] = rng.standard_normal((stop - start, dim), dtype=numpy.float32)
            table.flush()
            del table
            os.replace(path + ".tmp.npy", path)
        return path

    def target_embeddings(self, dim: int = TARGET_DIM):
        """The fixed targets of ELMo-C (see `SyntheticTargetEmbeddings`)."""
        return SyntheticTargetEmbeddings(self.vocab, self.target_table_path(dim), dim)

    def subword_model_path(self, pieces: int = SUBWORD_PIECES) -> str:
        """A BPE model of `pieces` pieces trained with `allennlp build-subwords`' code on Zipf text."""
        from elmo_c.commands.build_subwords import train_subwords

        path = os.path.join(self.cache_dir, f"bpe_V{self.vocab_size}_p{pieces}_seed{self.seed}.model")
        if not os.path.exists(path):
            os.makedirs(self.cache_dir, exist_ok=True)
            corpus = path + ".corpus.txt"
            ids = self.sample_ids((20_000, 20), self.rng(stream=2))
            with open(corpus, "w", encoding="utf-8") as stream:
                for sentence in ids:
                    stream.write(" ".join(self.word(i) for i in sentence) + "\n")
                # Every word once, so that the rare tail has pieces too.
                for start in range(0, len(self.words), 20):
                    stream.write(" ".join(self.words[start : start + 20]) + "\n")
            train_subwords([corpus], path, vocab_size=pieces, threads=1, verbose=False)
            os.remove(corpus)
        return path

    def character_ids(self, word_ids: numpy.ndarray) -> torch.Tensor:
        """ELMo character ids `(..., 50)` of word ids, as `ELMoTokenCharactersIndexer` gives them."""
        from allennlp.data.token_indexers.elmo_indexer import ELMoCharacterMapper

        mapper = ELMoCharacterMapper()
        flat = [mapper.convert_word_to_char_ids(self.word(int(i))) for i in word_ids.reshape(-1)]
        return torch.tensor(flat, dtype=torch.long).view(*word_ids.shape, -1)


class SyntheticTargetEmbeddings(TargetEmbeddings):
    """
    `TargetEmbeddings` over the corpus' cached table: memory-mapped as the real
    cache is (`memory_map=True`, the default), so only the rows a batch touches are
    read; `lookup` and `unit_chunks` are the library's own.  Only the alignment of a
    vector file to the vocabulary (done once, before training) is skipped.
    """

    def __init__(self, vocab, table_path: str, embedding_dim: int) -> None:
        super().__init__(vocab, embedding_dim)
        self.path = table_path

    def load(self) -> None:
        if self._matrix is not None:
            return
        self._matrix = numpy.load(self.path, mmap_mode="r")
        self._valid = numpy.ones(len(self._matrix), dtype=bool)
        self._valid[self._special_rows()] = False


# -- memory and machine --------------------------------------------------------------------


def available_memory_bytes(device: torch.device = torch.device("cpu")) -> float:
    """Free GPU memory on a GPU, else MemAvailable from /proc/meminfo (what can be allocated without swapping)."""
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def machine_description(device: torch.device) -> Dict[str, str]:
    """CPU model, cores, memory, accelerator and library versions, for RESULTS.md."""
    import allennlp.version
    import allennlp_models.version

    description = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": _cpu_model(),
        "cores": f"{os.cpu_count()} logical (torch threads: {torch.get_num_threads()})",
        "memory": f"{_total_memory_gib():.1f} GiB",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "allennlp": allennlp.version.VERSION,
        "allennlp-models": allennlp_models.version.VERSION,
        "numpy": numpy.__version__,
        "device": str(device),
    }
    if device.type == "cuda":
        description["gpu"] = torch.cuda.get_device_name(device)
    try:
        description[LOAD_AT_START] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    return description


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _total_memory_gib() -> float:
    try:
        with open("/proc/meminfo") as stream:
            return float(stream.readline().split()[1]) / 2**20
    except (OSError, IndexError, ValueError):
        return float("nan")
