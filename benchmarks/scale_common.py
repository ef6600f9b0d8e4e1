"""
What the scale benchmarks (`scale.py` and its parts, `scale_*.py`) share: the scale
of a run (`Settings`: full, quick or smoke), the run's workspace (`ScaleRun`), the
synthetic corpus written to shards, configs' readers and loaders as `allennlp
train` builds them, one pass of a loader (`child_loader`, parts a and b), memory
readings, and `run_child`, which runs each measurement in a forked process of its
own.
"""
import contextlib
import multiprocessing
import os
import resource
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy
from allennlp.common import Params
from allennlp.data import DataLoader, DatasetReader, Vocabulary

import elmo_c  # noqa: F401  (registers the reader, model and target types)
from benchmarks.common import ZIPF_EXPONENT, synthetic_word
from elmo_c.config_defaults import FIXTURES

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPOSITORY, "training_config")
PAPER_CONFIG = os.path.join(CONFIGS, "elmo_c.jsonnet")
SMALL_CONFIG = os.path.join(CONFIGS, "elmo_c_small.jsonnet")
ELMO_CONFIG = os.path.join(CONFIGS, "elmo.jsonnet")
TINY_CONFIG = os.path.join(FIXTURES, "configs", "elmo_c_tiny.jsonnet")
TINY_BASELINES_CONFIG = os.path.join(FIXTURES, "configs", "elmo_baselines_tiny.jsonnet")
BOUNDARIES = ["<S>", "</S>"]


@dataclass
class Settings:
    """The scale of a run: `full` (what RESULTS_scale.md is for), `quick` or `smoke` (tests)."""

    mode: str
    # a. and b.: the synthetic corpus and its loader
    corpus_tokens: int = 1_000_000
    shard_tokens: int = 250_000
    corpus_vocab: int = 100_000
    loader_config: str = PAPER_CONFIG
    loader_batch_size: Optional[int] = None  # None: the config's (64)
    loader_workers: Tuple[int, ...] = (0, 2)
    # b.: the models' training steps
    model_configs: Dict[str, str] = field(default_factory=lambda: {"small": SMALL_CONFIG, "paper": PAPER_CONFIG})
    model_batch_sizes: Dict[str, Optional[int]] = field(default_factory=lambda: {"small": None, "paper": 16})
    model_steps: Dict[str, int] = field(default_factory=lambda: {"small": 5, "paper": 3})
    target_dim: int = 300
    # c.: the target table
    target_rows: int = 2_000_000
    lookup_rows: int = 1280
    lookup_repeats: int = 20
    # d.: all-reduce bytes
    allreduce_vocab: int = 800_000
    allreduce_configs: Dict[str, str] = field(default_factory=lambda: {"elmo_c": PAPER_CONFIG, "elmo": ELMO_CONFIG})
    num_samples: int = 8192
    allreduce_batch: Tuple[int, int] = (64, 20)
    # False: dense ELMo's bytes are derived from the sparse model (saves building an 800K softmax again).
    build_dense_elmo: bool = True
    # Extra environment of every measurement (config variables).
    env: Dict[str, str] = field(default_factory=dict)
    # Each measurement in a forked process of its own (False: in this process, for tests).
    isolate: bool = True
    seed: int = 0


def make_settings(mode: str) -> Settings:
    """The settings of a `full`, `quick` or `smoke` run."""
    if mode == "full":
        return Settings(mode)
    if mode == "quick":
        return Settings(
            mode,
            corpus_tokens=20_000,
            shard_tokens=5_000,
            loader_batch_size=16,
            model_batch_sizes={"small": None, "paper": 4},
            model_steps={"small": 3, "paper": 1},
            target_rows=200_000,
            build_dense_elmo=False,
        )
    if mode == "smoke":
        return Settings(
            mode,
            corpus_tokens=3_000,
            shard_tokens=1_000,
            corpus_vocab=500,
            loader_batch_size=4,
            loader_workers=(0,),
            model_configs={"small": TINY_CONFIG, "paper": TINY_CONFIG},
            model_batch_sizes={"small": 4, "paper": 4},
            model_steps={"small": 1, "paper": 1},
            target_dim=16,
            target_rows=1_000,
            lookup_repeats=2,
            allreduce_vocab=2_000,
            allreduce_configs={"elmo_c": TINY_CONFIG, "elmo": TINY_BASELINES_CONFIG},
            num_samples=64,
            allreduce_batch=(4, 8),
            env={"ELMO_C_TEST_OUTPUT": "sampled_softmax"},
            isolate=False,
        )
    raise ValueError(f"mode must be full, quick or smoke, not {mode!r}")


# -- shared helpers -----------------------------------------------------------------------


def current_rss_mb(field: str = "VmRSS") -> float:
    """
    This process's resident set size now, in MiB: `VmRSS` (all of it), or `RssAnon`
    (private memory; the rest, `RssFile`, is page cache that memory maps show, shared
    between processes and reclaimable).
    """
    with open("/proc/self/status") as stream:
        for line in stream:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(children: bool = False) -> float:
    """Peak RSS (`ru_maxrss`) of this process, or of its largest waited-for child, in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def zipf_ranks(num_words: int, size: Union[int, Tuple[int, ...]], rng: numpy.random.Generator) -> numpy.ndarray:
    """0-based frequency ranks drawn from Zipf's law, p(r) ~ 1 / (r + 1) ** ZIPF_EXPONENT."""
    weights = 1.0 / numpy.arange(1, num_words + 1, dtype=numpy.float64) ** ZIPF_EXPONENT
    cdf = numpy.cumsum(weights) / weights.sum()
    return numpy.minimum(numpy.searchsorted(cdf, rng.random(size), side="right"), num_words - 1)


def words_of(num_words: int) -> List[str]:
    return [synthetic_word(rank) for rank in range(num_words)]


def vocabulary(words: List[str]) -> Vocabulary:
    """
    A Vocabulary with `words` in namespace `tokens` after padding and OOV (ids 2...),
    filled through its dicts: `add_tokens_to_namespace` takes ~10 s per million words.
    """
    vocab = Vocabulary()
    token_to_index = vocab.get_token_to_index_vocabulary("tokens")
    index_to_token = vocab.get_index_to_token_vocabulary("tokens")
    start = len(token_to_index)
    token_to_index.update(zip(words, range(start, start + len(words))))
    index_to_token.update(zip(range(start, start + len(words)), words))
    assert vocab.get_vocab_size("tokens") == start + len(words), "duplicate words"
    return vocab


def read_words(path: str) -> List[str]:
    with open(path, encoding="utf-8") as stream:
        return stream.read().split("\n")[:-1]


def write_words(path: str, words: List[str]) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("".join(word + "\n" for word in words))


def write_random_table(path: str, rows: int, dim: int, seed: int) -> None:
    """A `(rows, dim)` float32 `.npy` of standard normal values, written in chunks."""
    table = numpy.lib.format.open_memmap(path, "w+", numpy.float32, (rows, dim))
    rng = numpy.random.default_rng(seed)
    for start in range(0, rows, 100_000):
        stop = min(start + 100_000, rows)
        table[start:stop] = rng.standard_normal((stop - start, dim), dtype=numpy.float32)
    table.flush()
    del table


def config_dict(path: str) -> Dict[str, Any]:
    return Params.from_file(path).as_dict(quiet=True)


def build_loader(config_path: str, data_path: str, num_workers: int, batch_size: Optional[int]) -> DataLoader:
    """
    The reader and data loader of a training config, as `allennlp train` builds them,
    with `num_workers` and optionally another batch size (and then the config's
    `max_instances_in_memory` formula, 100 x batch size, if it sets one).
    """
    config = config_dict(config_path)
    reader = DatasetReader.from_params(Params(config["dataset_reader"]))
    loader_params = config["data_loader"]
    if batch_size is not None:
        loader_params["batch_sampler"]["batch_size"] = batch_size
        if "max_instances_in_memory" in loader_params:
            loader_params["max_instances_in_memory"] = 100 * batch_size
    loader_params["num_workers"] = num_workers
    return DataLoader.from_params(Params(loader_params), reader=reader, data_path=data_path)


def batch_tokens(batch: Dict[str, Any]) -> int:
    """Non-padding positions of a batch (sentence boundaries included)."""
    return int((batch["source"]["tokens"]["tokens"] > 0).sum())


@contextlib.contextmanager
def environment(variables: Dict[str, str]) -> Iterator[None]:
    """Sets environment variables for the block, restoring the previous values after."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


Measurement = Callable[[Dict[str, Any]], Dict[str, Any]]  # a spec in, a result out (in a process of its own)


def run_child(child: Measurement, spec: Dict[str, Any], settings: Settings) -> Dict[str, Any]:
    """
    Runs measurement `child` with `spec` in a process of its own (or here if not
    `isolate`): forked from this one, whose libraries are imported but which holds
    no data, so that each measurement starts from the same memory without paying
    the imports again (over 10 s on a busy 2-core machine).
    """
    env = {**settings.env, **spec.get("env", {})}
    if not settings.isolate:
        with environment(env):
            return child(spec)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(child, spec, env, sender))
    process.start()
    sender.close()
    try:
        succeeded, payload = receiver.recv()
    except EOFError:
        succeeded, payload = False, "the process died without a result"
    process.join()
    if not succeeded:
        raise RuntimeError(f"measurement {child.__name__} failed (exit code {process.exitcode}):\n{payload}")
    return payload


def _child_main(child: Measurement, spec: Dict[str, Any], env: Dict[str, str], sender: Connection) -> None:
    os.environ.update(env)
    try:
        sender.send((True, child(spec)))
    except BaseException:  # noqa: B902  (reported to the parent, which raises)
        sender.send((False, traceback.format_exc()))
    finally:
        sender.close()


# -- the synthetic corpus and the loader's pass -------------------------------------------


@dataclass
class Corpus:
    """The words file (the fixed vocabulary) and the shard globs at each scale."""

    words_path: str
    globs: Dict[int, str]
    tokens: Dict[int, int]


def prepare_corpus(settings: Settings, directory: str, scales: Tuple[int, ...] = (1, 10)) -> Corpus:
    """Writes the vocabulary and a Zipf corpus per scale (`scale x corpus_tokens` tokens) under `directory`."""
    words = words_of(settings.corpus_vocab)
    words_path = os.path.join(directory, "words.txt")
    write_words(words_path, words)
    globs, tokens = {}, {}
    for scale in scales:
        shard_directory = os.path.join(directory, f"corpus_{scale}x")
        rng = numpy.random.default_rng([settings.seed, scale])
        tokens[scale] = write_zipf_corpus(shard_directory, words, scale * settings.corpus_tokens, settings, rng)
        globs[scale] = os.path.join(shard_directory, "shard-*.txt")
    return Corpus(words_path, globs, tokens)


def sentence_lengths(count: int, rng: numpy.random.Generator) -> numpy.ndarray:
    """Tokens per sentence: 1 + Gamma(4, 6) rounded (mean 25, mode 19, rarely over 80), like news text."""
    return 1 + numpy.rint(rng.gamma(4.0, 6.0, size=count)).astype(numpy.int64)


def write_zipf_corpus(
    directory: str, words: List[str], num_tokens: int, settings: Settings, rng: numpy.random.Generator
) -> int:
    """One sentence per line in shards of about `shard_tokens` tokens; returns the tokens written."""
    os.makedirs(directory, exist_ok=True)
    word_array = numpy.array(words, dtype=object)
    ids = zipf_ranks(len(words), num_tokens, rng)
    lengths = sentence_lengths(num_tokens // 10 + 10, rng)
    ends = numpy.cumsum(lengths)
    ends = numpy.append(ends[ends < num_tokens], num_tokens)
    shard, shard_start, start, stream = 0, 0, 0, None
    try:
        for end in ends.tolist():
            if stream is None or start - shard_start >= settings.shard_tokens:
                if stream is not None:
                    stream.close()
                stream = open(os.path.join(directory, f"shard-{shard:05d}.txt"), "w", encoding="utf-8")
                shard, shard_start = shard + 1, start
            stream.write(" ".join(word_array[ids[start:end]]) + "\n")
            start = end
    finally:
        if stream is not None:
            stream.close()
    return num_tokens


def child_loader(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Iterates a config's data loader once: tokens, seconds and peak RSS."""
    vocab = vocabulary(read_words(spec["words"]) + BOUNDARIES)
    loader = build_loader(spec["config"], spec["data_path"], spec["num_workers"], spec["batch_size"])
    loader.index_with(vocab)
    baseline = current_rss_mb()
    start = time.perf_counter()
    tokens = instances = 0
    for batch in loader:
        tokens += batch_tokens(batch)
        instances += len(batch["source"]["tokens"]["tokens"])
    return {
        "tokens": tokens,
        "instances": instances,
        "seconds": time.perf_counter() - start,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "worker_peak_rss_mb": peak_rss_mb(children=True) if spec["num_workers"] else 0.0,
    }


@dataclass
class ScaleRun:
    """What every part's `run` gets: the settings, a scratch directory, the corpus (parts a and b), or None."""

    settings: Settings
    directory: str
    corpus: Optional[Corpus] = None
