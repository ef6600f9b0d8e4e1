"""
Scale and reliability benchmarks of ELMo-C's training pipeline (issue 5): does it
stay within memory as the corpus grows, does the data loader keep up with the model,
what does an ELMo-size target table cost, and how many bytes does DDP all-reduce.

    .venv/bin/python benchmarks/scale.py [--quick] [--parts loader,throughput,targets,allreduce]

prints a Markdown table per part and headline lines `name = value`, and writes
`benchmarks/RESULTS_scale.md` (machine, versions, command).  `--quick` takes under 3
minutes on 2 cores: a smaller corpus and table, fewer and smaller training steps.

Method, part by part (every measurement runs in a process of its own, forked from
the benchmark before it holds any data, so that none is polluted by another):

a. Memory against corpus size (`loader`).  A synthetic corpus of Zipf-distributed
   words (p(rank r) ~ 1/r over a 100K-word vocabulary of syllable strings,
   `benchmarks.common`; sentence lengths 1 + Gamma(4, 6), mean 25) is written in shards
   of a fixed size, at 1x and 10x the number of tokens.  The data loader is built
   from `training_config/elmo_c.jsonnet` exactly as `allennlp train` builds it:
   the `elmo_c_sentences` reader (20-token windows), `MultiProcessDataLoader` with
   the bucket sampler and `max_instances_in_memory` (in `--quick` the batch size
   is 16 instead of 64, and `max_instances_in_memory` follows the config's formula,
   100 x batch size, so that the 1x corpus already spans several windows).  It is
   indexed with a fixed vocabulary (the same at 1x and 10x, so that only the corpus
   grows) and iterated once, with `num_workers` 0 and 2.  Peak RSS is the kernel's
   `ru_maxrss` of the loading process and of its largest worker (workers are
   forked, so their RSS counts pages shared with the main process).
b. Pipeline against model (`throughput`).  Loader tokens/s with `num_workers` 0 (one
   process reading, tokenising, indexing to ELMo character ids and word ids, and
   batching: the work of one worker) for the paper config's reader (windows) and
   the small config's (sentences).  Model tokens/s: training steps (zero grad,
   forward, backward, clip to 1, the config's optimizer) of the models of
   `elmo_c_small.jsonnet` and `elmo_c.jsonnet` on batches from that loader, with
   300-d random targets; the paper model with a small batch, as a CPU cannot do
   more in minutes.  Tokens are every non-padding position (sentence boundaries
   included).  Workers needed = ceil(model rate / per-worker loader rate).
c. Target table (`targets`).  A random `(rows, 300)` float32 `.npy` and its words
   file go through the `npy` TargetEmbeddings type with a Vocabulary of the same
   words, building the aligned cache once per dtype; then each of fp32/fp16 x
   memory-mapped/read is loaded in a fresh process: load time, RSS growth after the
   load and after 20 lookups of 1280 Zipf-distributed rows, and the lookup time.
   The cache files were just written, so they are in the page cache: these are warm
   loads (a cold disk read of the 2.4 GB table takes longer without mmap).
d. All-reduce bytes (`allreduce`).  ELMo-C (`elmo_c.jsonnet`) and ELMo
   (`elmo.jsonnet`, sampled softmax, sparse and dense) are built at the paper size
   with an 800K-word vocabulary.  One backward pass on a tiny batch tells which
   parameters receive gradients: DDP all-reduces numel x element size of each dense
   one per step.  A sparse gradient covers only the rows a batch touches: the output
   layer is run on one batch of 64 x 20 Zipf-distributed targets per direction
   (each direction draws its own 8192 negative samples) and the rows of the
   coalesced gradient, values and int64 indices, are counted.  ELMo-C's target
   lookups return random vectors there (the 800K x 300 table is not needed to count
   bytes).
"""
import argparse
import contextlib
import itertools
import math
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

try:
    import bootstrap  # noqa: F401  (run by path: puts the repository first on sys.path)
except ImportError:
    from benchmarks import bootstrap  # noqa: F401

import numpy
import torch
from allennlp.common import Params
from allennlp.data import DataLoader, DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.training.optimizers import Optimizer

import elmo_c  # noqa: F401  (registers the reader, model and target types)
from benchmarks.common import ZIPF_EXPONENT, machine_description, synthetic_word
from benchmarks.report import Section, Table, headline_lines
from benchmarks.timing import measure_one
from elmo_c.config_defaults import FIXTURES
from elmo_c.data.target_embeddings.npy import NpyTargetEmbeddings

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPOSITORY, "training_config")
PAPER_CONFIG = os.path.join(CONFIGS, "elmo_c.jsonnet")
SMALL_CONFIG = os.path.join(CONFIGS, "elmo_c_small.jsonnet")
ELMO_CONFIG = os.path.join(CONFIGS, "elmo.jsonnet")
TINY_CONFIG = os.path.join(FIXTURES, "configs", "elmo_c_tiny.jsonnet")
TINY_BASELINES_CONFIG = os.path.join(FIXTURES, "configs", "elmo_baselines_tiny.jsonnet")
BOUNDARIES = ["<S>", "</S>"]
MIN_FREE_BYTES_FOR_FULL_TABLE = 10 * 2**30


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


def run_child(name: str, spec: Dict[str, Any], settings: Settings) -> Dict[str, Any]:
    """
    Runs measurement `name` with `spec` in a process of its own (or here if not
    `isolate`): forked from this one, whose libraries are imported but which holds
    no data, so that each measurement starts from the same memory without paying
    the imports again (over 10 s on a busy 2-core machine).
    """
    env = {**settings.env, **spec.get("env", {})}
    if not settings.isolate:
        with environment(env):
            return CHILDREN[name](spec)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(name, spec, env, sender))
    process.start()
    sender.close()
    try:
        succeeded, payload = receiver.recv()
    except EOFError:
        succeeded, payload = False, "the process died without a result"
    process.join()
    if not succeeded:
        raise RuntimeError(f"measurement {name} failed (exit code {process.exitcode}):\n{payload}")
    return payload


def _child_main(name: str, spec: Dict[str, Any], env: Dict[str, str], sender: Connection) -> None:
    os.environ.update(env)
    try:
        sender.send((True, CHILDREN[name](spec)))
    except BaseException:  # noqa: B902  (reported to the parent, which raises)
        sender.send((False, traceback.format_exc()))
    finally:
        sender.close()


# -- the synthetic corpus -----------------------------------------------------------------


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


# -- a. memory against corpus size --------------------------------------------------------


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


def loader_memory(settings: Settings, corpus: Corpus) -> Section:
    """Part a: peak RSS of iterating the data loader over the corpus at 1x and 10x."""
    started = time.perf_counter()
    table = Table(
        "Peak RSS of one pass of the data loader (elmo_c.jsonnet's reader and loader)",
        ["corpus", "tokens", "num_workers", "seconds", "main peak RSS (MiB)",
         "main growth over start (MiB)", "largest worker peak RSS (MiB)"],
    )
    results = {}
    for num_workers in settings.loader_workers:
        for scale in sorted(corpus.globs):
            spec = {
                "words": corpus.words_path,
                "config": settings.loader_config,
                "data_path": corpus.globs[scale],
                "num_workers": num_workers,
                "batch_size": settings.loader_batch_size,
            }
            result = results[scale, num_workers] = run_child("loader", spec, settings)
            table.add(
                f"{scale}x", result["tokens"], num_workers, result["seconds"], result["peak_rss_mb"],
                result["peak_rss_mb"] - result["baseline_rss_mb"], result["worker_peak_rss_mb"] or None,
            )
    section = Section("scale_loader", "a. Memory as the corpus grows", _LOADER_DESCRIPTION, tables=[table])
    first = min(settings.loader_workers)
    section.headlines["loader_peak_rss_mb_1x"] = results[1, first]["peak_rss_mb"]
    section.headlines["loader_peak_rss_mb_10x"] = results[10, first]["peak_rss_mb"]
    section.headlines["loader_rss_ratio_10x_over_1x"] = _worst_ratio(results, settings.loader_workers)
    batch_size = settings.loader_batch_size or 64
    section.notes.append(
        f"Batch size {batch_size}, max_instances_in_memory {100 * batch_size} (the config's 100 x batch size); "
        f"corpus of {corpus.tokens[1]:,} tokens at 1x in shards of {settings.shard_tokens:,} tokens, "
        f"vocabulary of {settings.corpus_vocab:,} words.  Headline RSS: num_workers={first}; the ratio is the "
        f"largest 10x/1x ratio of any process (main or worker) at any num_workers."
    )
    windows = corpus.tokens[1] / 20 / (100 * batch_size) / max(1, max(settings.loader_workers))
    if windows < 3:
        section.notes.append(
            f"The 1x corpus gives each loading process only {windows:.1f} windows of max_instances_in_memory "
            f"instances, so its peak is below the steady state that the 10x run reaches: a ratio above 1 here "
            f"is that warm-up, not growth (compare 10x with a larger corpus to tell them apart)."
        )
    section.seconds = time.perf_counter() - started
    return section


_LOADER_DESCRIPTION = """
One pass of `MultiProcessDataLoader` over a synthetic Zipf corpus at 1x and 10x its
size, each in a fresh process; the RSS should not grow with the corpus, as the loader
holds at most `max_instances_in_memory` instances (per worker) at a time.
"""


def _worst_ratio(results: Dict[Tuple[int, int], Dict[str, Any]], workers: Tuple[int, ...]) -> float:
    ratios = []
    for num_workers in workers:
        small, large = results[1, num_workers], results[10, num_workers]
        ratios.append(large["peak_rss_mb"] / small["peak_rss_mb"])
        if num_workers:
            ratios.append(large["worker_peak_rss_mb"] / small["worker_peak_rss_mb"])
    return max(ratios)


# -- b. pipeline against model ------------------------------------------------------------


def child_model(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Times training steps of a config's model on batches of its own data loader."""
    words = read_words(spec["words"]) + BOUNDARIES
    vocab = vocabulary(words)
    config = config_dict(spec["config"])
    torch.manual_seed(0)
    model = Model.from_params(vocab=vocab, params=Params(config["model"]))
    model.output_layer.target_embeddings.load()  # the aligned cache is built before training
    optimizer = Optimizer.from_params(
        model_parameters=list(model.named_parameters()), params=Params(config["trainer"]["optimizer"])
    )
    loader = build_loader(spec["config"], spec["data_path"], 0, spec["batch_size"])
    loader.index_with(vocab)
    batches = list(itertools.islice(iter(loader), spec["steps"] + 1))
    tokens: List[int] = []

    def step() -> None:
        batch = batches[len(tokens) % len(batches)]
        tokens.append(batch_tokens(batch))
        optimizer.zero_grad()
        model(**batch)["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    model.train()
    timing = measure_one(step, warmup=1, repeats=spec["steps"], device=torch.device("cpu"))
    timed_tokens = sum(tokens[1:])
    return {
        "tokens_per_step": timed_tokens / spec["steps"],
        "seconds_per_step": sum(timing.samples) / spec["steps"],
        "tokens_per_second": timed_tokens / sum(timing.samples),
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
    }


def pipeline_vs_model(settings: Settings, corpus: Corpus, directory: str) -> Section:
    """Part b: loader tokens/s per worker against the model's tokens/s per training step."""
    started = time.perf_counter()
    table = Table(
        "Data pipeline (one worker) against training steps",
        ["config", "loader tokens/s per worker", "model parameters", "batch size", "tokens/step",
         "s/step", "model tokens/s", "workers needed"],
    )
    targets = _model_targets(settings, corpus, directory)
    section = Section("scale_throughput", "b. Data pipeline against model", _THROUGHPUT_DESCRIPTION, tables=[table])
    rates = {}
    for name, config in settings.model_configs.items():
        loader = run_child("loader", _throughput_spec(settings, corpus, config), settings)
        loader_rate = loader["tokens"] / loader["seconds"]
        model = run_child("model", _model_spec(settings, corpus, config, name, targets, directory), settings)
        needed = max(1, math.ceil(model["tokens_per_second"] / loader_rate))
        batch_size = settings.model_batch_sizes[name] or _config_batch_size(config)
        table.add(
            f"{name} ({os.path.basename(config)})", loader_rate, model["parameters"], batch_size,
            model["tokens_per_step"], model["seconds_per_step"], model["tokens_per_second"], needed,
        )
        rates[name] = (loader_rate, model["tokens_per_second"], needed)
    section.headlines["loader_tokens_per_s_per_worker"] = rates["paper"][0]
    section.headlines["model_tokens_per_s_small"] = rates["small"][1]
    section.headlines["model_tokens_per_s_paper"] = rates["paper"][1]
    section.headlines["loader_workers_needed_small"] = rates["small"][2]
    section.headlines["loader_workers_needed_paper"] = rates["paper"][2]
    section.notes.append(
        f"Loader rates over the 1x corpus ({corpus.tokens[1]:,} tokens) with num_workers=0; the headline per-worker "
        f"rate is the paper config's reader (20-token windows).  Model rates on this CPU "
        f"({model['threads']} torch threads); timed steps after 1 warm-up step: "
        + ", ".join(f"{steps} for {name}" for name, steps in settings.model_steps.items()) + ".  On a shared "
        "machine these CPU times vary several-fold with its load (torch's threads wait for each other when a "
        "core is taken): see the load averages above."
    )
    gpu_workers = math.ceil(12_800 / rates["paper"][0])
    section.notes.append(
        "Workers needed = ceil(model tokens/s / loader tokens/s per worker), at least 1.  On a GPU the model "
        "consumes tokens far faster than on this CPU and the same formula applies with the GPU's rate: e.g. a "
        f"paper-size step of 64 x 20 tokens in 0.1 s (12,800 tokens/s) would need {gpu_workers} worker(s) at the "
        "per-worker rate measured here."
    )
    section.seconds = time.perf_counter() - started
    return section


_THROUGHPUT_DESCRIPTION = """
Tokens per second that one data-loading process produces (read, tokenise, index to
ELMo character ids and word ids, batch) against the tokens per second that a training
step consumes, for the small and the paper-size config.
"""


def _config_batch_size(config: str) -> int:
    return config_dict(config)["data_loader"]["batch_sampler"]["batch_size"]


def _model_targets(settings: Settings, corpus: Corpus, directory: str) -> str:
    """A random target table for the corpus vocabulary (padding, OOV, words, boundaries)."""
    path = os.path.join(directory, "model_targets.npy")
    words = ["@@PADDING@@", "@@UNKNOWN@@"] + read_words(corpus.words_path) + BOUNDARIES
    write_random_table(path, len(words), settings.target_dim, settings.seed)
    write_words(path[: -len(".npy")] + ".words.txt", words)
    return path


def _throughput_spec(settings: Settings, corpus: Corpus, config: str) -> Dict[str, Any]:
    return {"words": corpus.words_path, "config": config, "data_path": corpus.globs[1], "num_workers": 0,
            "batch_size": settings.loader_batch_size if config == settings.loader_config else None}


def _model_spec(
    settings: Settings, corpus: Corpus, config: str, name: str, targets: str, directory: str
) -> Dict[str, Any]:
    env = {
        "ELMO_C_TARGETS": targets,
        "ELMO_C_TARGETS_DIM": str(settings.target_dim),
        "ELMO_C_TEST_TARGETS": targets,
        "ELMO_C_CACHE": os.path.join(directory, "cache"),
    }
    return {"words": corpus.words_path, "config": config, "data_path": corpus.globs[1],
            "batch_size": settings.model_batch_sizes[name], "steps": settings.model_steps[name], "env": env}


# -- c. the target table ------------------------------------------------------------------


def _target_embeddings(spec: Dict[str, Any], vocab: Vocabulary) -> NpyTargetEmbeddings:
    return NpyTargetEmbeddings(
        vocab, path=spec["npy"], embedding_dim=spec["dim"], dtype=spec["dtype"],
        memory_map=spec.get("memory_map", True), cache_dir=spec["cache_dir"],
    )


def child_targets_build(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Builds the aligned cache of a table for a vocabulary of its words."""
    targets = _target_embeddings(spec, vocabulary(read_words(spec["words"])))
    baseline = current_rss_mb()
    start = time.perf_counter()
    targets.load()
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline}


def child_targets_load(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Loads a cached table: time, RSS growth after the load and after lookups, lookup time."""
    words = read_words(spec["words"])
    targets = _target_embeddings(spec, vocabulary(words))
    baseline, private_baseline = current_rss_mb(), current_rss_mb("RssAnon")
    start = time.perf_counter()
    targets.load()
    seconds = time.perf_counter() - start
    after_load = current_rss_mb()
    rng = numpy.random.default_rng(spec["seed"])
    batches = [torch.from_numpy(zipf_ranks(len(words), spec["lookup_rows"], rng) + 2)
               for _ in range(spec["repeats"] + 1)]
    calls = itertools.count()
    timing = measure_one(lambda: targets.lookup(batches[next(calls) % len(batches)]), warmup=1, repeats=spec["repeats"],
                         device=torch.device("cpu"))
    return {
        "seconds": seconds,
        "rss_after_load_mb": after_load - baseline,
        "rss_after_lookups_mb": current_rss_mb() - baseline,
        "private_after_lookups_mb": current_rss_mb("RssAnon") - private_baseline,
        "lookup_ms": 1000 * timing.median,
    }


def target_table(settings: Settings) -> Section:
    """Part c: an aligned target table's cache load time, RSS and lookup time."""
    started = time.perf_counter()
    directory = tempfile.mkdtemp(prefix="elmo_c_scale_targets_")
    try:
        rows, notes = _table_rows(settings, directory)
        section = _measure_table(settings, directory, rows)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    section.notes = notes + section.notes
    section.seconds = time.perf_counter() - started
    return section


def _table_rows(settings: Settings, directory: str) -> Tuple[int, List[str]]:
    rows, notes = settings.target_rows, []
    free = shutil.disk_usage(directory).free
    if rows >= 2_000_000 and free < MIN_FREE_BYTES_FOR_FULL_TABLE:
        rows //= 10
        notes.append(f"Only {free / 2**30:.1f} GiB free in {directory}: a table of {rows:,} rows instead of 2M.")
    if rows != 2_000_000:
        notes.append(f"The `targets_2m_*` headlines are for a table of {rows:,} rows (`targets_rows`), not 2M.")
    return rows, notes


def _measure_table(settings: Settings, directory: str, rows: int) -> Section:
    npy = os.path.join(directory, "vectors.npy")
    words_path = os.path.join(directory, "vectors.words.txt")
    write_random_table(npy, rows, 300, settings.seed)
    write_words(words_path, words_of(rows))
    base = {"npy": npy, "words": words_path, "dim": 300, "cache_dir": os.path.join(directory, "cache"),
            "lookup_rows": settings.lookup_rows, "repeats": settings.lookup_repeats, "seed": settings.seed}
    table = Table(
        f"Aligned target table of {rows:,} x 300 (npy TargetEmbeddings), warm page cache",
        ["dtype", "memory-mapped", "build s (once)", "build peak RSS (MiB)", "cache MiB", "load s",
         "RSS after load (MiB)", f"RSS after {settings.lookup_repeats + 1} lookups (MiB)",
         "of which private (MiB)", f"lookup of {settings.lookup_rows} rows (ms)"],
    )
    section = Section("scale_targets", "c. Target table", _TARGETS_DESCRIPTION, tables=[table])
    section.headlines["targets_rows"] = rows
    for dtype, short in (("float32", "fp32"), ("float16", "fp16")):
        build = run_child("targets_build", {**base, "dtype": dtype}, settings)
        cache_mb = rows * 300 * numpy.dtype(dtype).itemsize / 2**20
        section.headlines[f"targets_2m_build_seconds_{short}"] = build["seconds"]
        for memory_map in (True, False):
            load = run_child("targets_load", {**base, "dtype": dtype, "memory_map": memory_map}, settings)
            table.add(dtype, memory_map, build["seconds"], build["peak_rss_mb"], cache_mb, load["seconds"],
                      load["rss_after_load_mb"], load["rss_after_lookups_mb"], load["private_after_lookups_mb"],
                      load["lookup_ms"])
            variant = f"{short}_{'mmap' if memory_map else 'nommap'}"
            section.headlines[f"targets_2m_load_seconds_{variant}"] = load["seconds"]
            section.headlines[f"targets_2m_rss_mb_{variant}"] = load["rss_after_lookups_mb"]
            section.headlines[f"targets_2m_private_mb_{variant}"] = load["private_after_lookups_mb"]
            section.headlines[f"targets_2m_lookup_ms_{variant}"] = load["lookup_ms"]
    section.notes.append(
        "RSS columns are growth over the process before `load()` (vocabulary built); the headline RSS is after "
        "the lookups.  With a memory map, RSS counts the table's pages that the process has mapped: the kernel "
        "maps pages around each one touched (fault-around), so scattered lookups soon map most of a table that "
        "is in the page cache.  Those pages are shared between processes (DDP workers on one machine) and "
        "reclaimable; the private column (RssAnon) is what the process holds on its own.  Building a cache "
        "reads the whole table and holds several copies of it (alignment, finiteness check, cast), hence the "
        "build peak."
    )
    return section


_TARGETS_DESCRIPTION = """
The fixed target table of ELMo-C at the size of FastText's 2M-word crawl vectors:
building its aligned cache once, then loading it (fresh process each), fp32 or fp16,
memory-mapped or read into memory, and looking up the rows of one batch.
"""


# -- d. all-reduce bytes ------------------------------------------------------------------


def child_allreduce(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Bytes of dense gradients and of one batch's sparse gradient rows of a config's model."""
    words = words_of(spec["vocab_size"] - 2)
    vocab = vocabulary(words)
    config = config_dict(spec["config"])["model"]
    config["output_layer"].update(spec.get("output_layer", {}))
    torch.manual_seed(0)
    model = Model.from_params(vocab=vocab, params=Params(config))
    _fake_target_lookups(model)
    model.train()
    rng = numpy.random.default_rng(spec["seed"])
    model(**_tiny_batch(len(words), rng))["loss"].backward()
    dense = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
    sparse = [p for p in model.parameters() if p.grad is not None and p.grad.is_sparse]
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    rows, sparse_bytes = _sparse_rows_of_a_batch(model, sparse, len(words), spec["batch"], rng)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "dense_bytes": sum(p.numel() * p.element_size() for p in dense),
        "sparse_parameters_bytes": sum(p.numel() * p.element_size() for p in sparse),
        "sparse_rows": rows,
        "sparse_bytes": sparse_bytes,
        "unused": unused,
    }


def _fake_target_lookups(model: Model) -> None:
    """ELMo-C's table is not needed to count bytes: lookups return random vectors."""
    targets = getattr(model.output_layer, "target_embeddings", None)
    if targets is not None:
        dim = targets.embedding_dim
        targets.lookup = lambda ids: (torch.randn(ids.shape + (dim,)), torch.ones(ids.shape, dtype=torch.bool))


def _tiny_batch(num_words: int, rng: numpy.random.Generator) -> Dict[str, Any]:
    ids = torch.from_numpy(zipf_ranks(num_words, (2, 6), rng) + 2)
    characters = torch.randint(1, 262, (2, 6, 50))
    return {"source": {"elmo_characters": {"elmo_tokens": characters}, "tokens": {"tokens": ids}}}


def _sparse_rows_of_a_batch(
    model: Model, sparse: List[torch.Tensor], num_words: int, batch: List[int], rng: numpy.random.Generator
) -> Tuple[int, int]:
    """Rows (and bytes: values + int64 indices) of the coalesced sparse gradients of one full batch."""
    if not sparse:
        return 0, 0
    model.zero_grad(set_to_none=True)
    sentences, length = batch
    stream = torch.from_numpy(zipf_ranks(num_words, (sentences, length + 1), rng) + 2)
    hidden_dim = model.encoder.get_output_dim()
    total = 0.0
    for direction, targets in enumerate((stream[:, 1:], stream[:, :-1])):
        hidden = torch.randn(sentences * length, hidden_dim)
        total = total + model.output_layer(hidden, targets.reshape(-1), direction)[0]
    total.backward()
    rows = nbytes = 0
    for parameter in sparse:
        gradient = parameter.grad.coalesce()
        values = gradient.values()
        rows = max(rows, values.shape[0])
        nbytes += values.numel() * values.element_size() + gradient.indices().numel() * 8
    return rows, nbytes


def allreduce_bytes(settings: Settings) -> Section:
    """Part d: bytes that DDP all-reduces per step for ELMo-C and ELMo (sparse and dense)."""
    started = time.perf_counter()
    base = {"vocab_size": settings.allreduce_vocab, "batch": list(settings.allreduce_batch), "seed": settings.seed}
    variants = {
        "elmo_c": {**base, "config": settings.allreduce_configs["elmo_c"]},
        "elmo_sparse": {**base, "config": settings.allreduce_configs["elmo"],
                        "output_layer": {"sparse": True, "num_samples": settings.num_samples}},
    }
    if settings.build_dense_elmo:
        variants["elmo_dense"] = {**base, "config": settings.allreduce_configs["elmo"],
                                  "output_layer": {"sparse": False, "num_samples": settings.num_samples}}
    table = Table(
        f"Gradient bytes per step, vocabulary {settings.allreduce_vocab:,}, batch "
        f"{settings.allreduce_batch[0]} x {settings.allreduce_batch[1]}, {settings.num_samples} samples",
        ["model", "parameters", "dense gradient bytes", "sparse rows touched", "sparse gradient bytes",
         "sparse parameters' full size (bytes)", "bytes to all-reduce per step"],
    )
    section = Section("scale_allreduce", "d. All-reduce bytes per step", _ALLREDUCE_DESCRIPTION, tables=[table])
    totals, results = {}, {}
    for name, spec in variants.items():
        result = results[name] = run_child("allreduce", spec, settings)
        totals[name] = result["dense_bytes"] + result["sparse_bytes"]
        table.add(name, result["parameters"], result["dense_bytes"], result["sparse_rows"] or None,
                  result["sparse_bytes"] or None, result["sparse_parameters_bytes"] or None, totals[name])
        if result["unused"]:
            section.notes.append(f"{name}: parameters without a gradient (not all-reduced): {result['unused']}")
    if "elmo_dense" not in totals:
        sparse = results["elmo_sparse"]
        totals["elmo_dense"] = sparse["dense_bytes"] + sparse["sparse_parameters_bytes"]
        table.add("elmo_dense (derived)", sparse["parameters"], totals["elmo_dense"], None, None, None,
                  totals["elmo_dense"])
        section.notes.append(
            "elmo_dense (derived): the sparse model's dense gradients plus its sparse parameters in full, which "
            "is what `sparse: false` makes dense (the full run builds that model and measures it)."
        )
    for name in ("elmo_c", "elmo_dense", "elmo_sparse"):
        section.headlines[f"allreduce_bytes_per_step_{name}"] = totals[name]
    section.headlines["allreduce_ratio_elmo_over_elmo_c"] = totals["elmo_dense"] / totals["elmo_c"]
    section.headlines["allreduce_ratio_elmo_sparse_over_elmo_c"] = totals["elmo_sparse"] / totals["elmo_c"]
    section.notes.extend(_DDP_NOTES)
    section.seconds = time.perf_counter() - started
    return section


_ALLREDUCE_DESCRIPTION = """
What data-parallel training must reduce across workers per step: every dense
gradient in full, and for a sparse gradient the rows that one batch touched.
`allreduce_ratio_elmo_over_elmo_c` compares ELMo with a dense softmax gradient (what
DDP over NCCL all-reduces) to ELMo-C.
"""

_DDP_NOTES = [
    "How PyTorch DDP handles sparse gradients: the reducer puts each parameter that expects a sparse gradient "
    "(an `nn.Embedding(sparse=True)`, as AllenNLP's sampled softmax uses) in a bucket of its own and calls "
    "the process group's sparse all-reduce on it.  Gloo implements that as an all-gather of every rank's "
    "indices and values followed by a local sum, so each rank receives (world size - 1) x the bytes above "
    "instead of the ~2x of a ring all-reduce of a dense gradient; NCCL historically had no sparse "
    "all-reduce (DDP then fails with 'Tensors must be CUDA and dense'), so ELMo on GPUs uses the dense "
    "softmax gradient or Gloo.",
    "Dense bytes: a ring all-reduce sends and receives about 2 x (N - 1) / N of them per rank per step.",
]


# -- the report ---------------------------------------------------------------------------


PARTS = ("loader", "throughput", "targets", "allreduce")


def run_parts(settings: Settings, parts: Tuple[str, ...], log: Callable[[str], None] = print) -> List[Section]:
    """Runs the named parts (see `PARTS`) and returns their sections."""
    sections = []
    directory = tempfile.mkdtemp(prefix="elmo_c_scale_")
    try:
        corpus = None
        if "loader" in parts or "throughput" in parts:
            scales = (1, 10) if "loader" in parts else (1,)
            corpus = prepare_corpus(settings, directory, scales)
        for part in parts:
            if part == "loader":
                sections.append(loader_memory(settings, corpus))
            elif part == "throughput":
                sections.append(pipeline_vs_model(settings, corpus, directory))
            elif part == "targets":
                sections.append(target_table(settings))
            elif part == "allreduce":
                sections.append(allreduce_bytes(settings))
            else:
                raise ValueError(f"unknown part {part!r}: choose from {', '.join(PARTS)}")
            log(sections[-1].to_markdown())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return sections


def results_markdown(
    sections: List[Section], settings: Settings, command: str, seconds: float, machine: Optional[Dict[str, str]] = None
) -> str:
    """RESULTS_scale.md: the command, the machine (`benchmarks.common.machine_description`), every section."""
    machine = dict(machine or machine_description(torch.device("cpu")))
    machine["load average (1, 5, 15 min) at the end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    scale_note = "" if settings.mode == "full" else "  Not the full run: smaller corpus, table and steps."
    lines = ["# Scale benchmarks (benchmarks/scale.py)", "", f"Mode: `{settings.mode}`.{scale_note}  Command:", "",
             f"    {command}", "", "| machine | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in machine.items()]
    lines += ["", "Method: see the docstring of `benchmarks/scale.py`.", ""]
    lines += [section.to_markdown() for section in sections]
    headlines = [line for section in sections for line in headline_lines(section.headlines)]
    lines += ["## Headlines", "", "```", *headlines, "```", "", f"_Total: {seconds:.0f} s._", ""]
    return "\n".join(lines)


CHILDREN: Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]] = {
    "loader": child_loader,
    "model": child_model,
    "targets_build": child_targets_build,
    "targets_load": child_targets_load,
    "allreduce": child_allreduce,
}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the < 3 min version (smaller corpus and table)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--output", default=os.path.join(REPOSITORY, "benchmarks", "RESULTS_scale.md"))
    args = parser.parse_args(argv)
    settings = make_settings("quick" if args.quick else "full")
    command = " ".join([".venv/bin/python", "benchmarks/scale.py", *(argv if argv is not None else sys.argv[1:])])
    load_at_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.perf_counter()
    sections = run_parts(settings, tuple(part for part in args.parts.split(",") if part))
    seconds = time.perf_counter() - started
    # Described after the run: asking torch about threads before forking the measurements could start OpenMP.
    machine = machine_description(torch.device("cpu"))
    machine["load average (1, 5, 15 min) at start"] = load_at_start
    for section in sections:
        print("\n".join(headline_lines(section.headlines)))
    with open(args.output, "w", encoding="utf-8") as stream:
        stream.write(results_markdown(sections, settings, command, seconds, machine))
    print(f"Wrote {args.output} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
