"""
The device check: ELMo-C and its baselines on one GPU, in one script that keeps to
a time budget (under 8 minutes on one H200 with `benchmarks/device_check.sh`) and
writes `benchmarks/RESULTS_gpu.md`.

Four parts, in this order, each with a share of the budget; a part (or the rest of
one) that would overrun its share is skipped and named in the report, which is
rewritten after every part, so a run cut short still leaves what it measured:

1. `steps`: a training step (zero grad, forward, backward, gradient-norm clipping,
   optimizer step: `variants.training_step`) of every variant of `variants.py`
   (encoder only, ELMo-C, ELMo's sampled softmax, ELMo-A, ELMo-Sub, AllenNLP's ELMo
   recipe) at V = 800K, at the small, medium and paper encoder sizes, in float32
   and under a bfloat16 autocast: median time, tokens/s, peak
   `torch.cuda.max_memory_allocated`, and the host synchronisations of one step
   (`torch.cuda.set_sync_debug_mode`).  ELMo-C twice: its target table on the
   host (the default: the batch's rows cross through pinned memory) and
   `device_resident` (the whole table on the GPU, a lookup is a gather there).
2. `max_batch`: the largest batch (sentences of the step's length, doubled until
   an out-of-memory error, which is caught, or the peak passes the budget) of each
   variant at the paper size under bfloat16 autocast within a fixed memory budget
   (`torch.cuda.set_per_process_memory_fraction`).
3. `loader`: the tokens/s of one data-loader worker (the config's dataset reader and
   indexers, indexing, batching into tensors, as a worker of AllenNLP's
   multiprocess loader does) against the step rate of ELMo-C: the workers a run
   needs to keep the GPU fed.
4. `train`: `allennlp train training_config/elmo_c.jsonnet` (the paper's model)
   end to end on a synthetic corpus of the same 800K-word vocabulary, with
   AllenNLP's `use_amp` and a device-resident target table, for a fixed time:
   tokens/s between the throughput callback's log lines, the loader workers, and
   the GPU's utilisation and memory from `nvidia-smi` where it exists.

`--tiny` runs the same code on the CPU with toy sizes (V = 2,000, the tiny encoder,
a few seconds of training) in well under a minute: the test suite's check that the
script works (it writes where `--output` says, never to RESULTS_gpu.md).

    benchmarks/device_check.sh                        # on the GPU machine
    .venv/bin/python benchmarks/device_check.py --tiny --output /tmp/device_check.md
"""
if not __package__:  # run by path: see bootstrap.py
    import bootstrap  # noqa: F401

import argparse
import gc
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy
import torch

from benchmarks.common import SIZES, Config, SyntheticCorpus, default_cache_dir, machine_description, make_config
from benchmarks.report import Table
from benchmarks.timing import measure_rounds, synchronize
from benchmarks.variants import LABELS, STEP_VARIANTS, build_model, build_variant_optimizer, make_batches, training_step

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(REPOSITORY, "benchmarks", "RESULTS_gpu.md")
TRAIN_CONFIG = os.path.join(REPOSITORY, "training_config", "elmo_c.jsonnet")
PARTS = ("steps", "max_batch", "loader", "train")
# Where each part must end, as a fraction of the budget (the rest is a margin for the report).
PART_ENDS = {"steps": 0.42, "max_batch": 0.58, "loader": 0.63, "train": 0.96}
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
RESIDENT = "elmo_c_resident"
ROW_LABELS = {**LABELS, RESIDENT: "ELMo-C, target table on the device"}
NUM_BATCHES = 2  # batches a timed step cycles through
# Part 2's order: what matters most first, in case the budget ends the search.
SEARCH_ORDER = ("elmo_c", "elmo", "elmo_a", "elmo_sub", "allennlp_elmo", "encoder_only")
GIB = 2**30
# The throughput callback's log line, after the logger's time stamp (progress bars may share its line).
TRAIN_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) - [^\n\r]*?Epoch (\d+): ([\d,]+) tokens, ([\d,]+) tokens/s"
)


@dataclass
class Settings:
    """What a run measures: the GPU's (`gpu_settings`) or the toy CPU run's (`tiny_settings`)."""

    tiny: bool
    device: torch.device
    sizes: List[str]
    batch: Tuple[int, int]
    warmup: int
    rounds: int
    calls_per_round: int
    search_size: str
    search_start: int
    search_cap: int
    memory_budget_gib: float
    loader_seconds: float
    train_seconds: float
    train_log_seconds: float
    train_workers: Optional[int]
    train_min_tokens: int
    budget_seconds: float
    cache_dir: str
    work_dir: str
    parts: Tuple[str, ...] = PARTS
    config: Config = field(init=False)

    def __post_init__(self) -> None:
        mode = "smoke" if self.tiny else "full"
        self.config = make_config(mode, str(self.device), self.cache_dir, memory_budget_gb=1e6)

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"


def gpu_settings(args: argparse.Namespace) -> Settings:
    return Settings(
        tiny=False, device=torch.device("cuda"), sizes=["paper", "medium", "small"], batch=(64, 20), warmup=2,
        rounds=3, calls_per_round=3, search_size="paper", search_start=64, search_cap=16384,
        memory_budget_gib=args.memory_budget_gib, loader_seconds=10.0, train_seconds=args.train_seconds or 60.0,
        train_log_seconds=5.0, train_workers=args.workers, train_min_tokens=2_000_000,
        budget_seconds=args.budget_seconds or 420.0, cache_dir=args.cache_dir, work_dir=args.work_dir,
        parts=tuple(args.parts),
    )


def tiny_settings(args: argparse.Namespace) -> Settings:
    return Settings(
        tiny=True, device=torch.device("cpu"), sizes=["tiny"], batch=(4, 8), warmup=1, rounds=1, calls_per_round=1,
        search_size="tiny", search_start=4, search_cap=8, memory_budget_gib=args.memory_budget_gib,
        loader_seconds=1.0, train_seconds=args.train_seconds or 3.0, train_log_seconds=1.0,
        train_workers=args.workers, train_min_tokens=200_000, budget_seconds=args.budget_seconds or 50.0,
        cache_dir=args.cache_dir, work_dir=args.work_dir, parts=tuple(args.parts),
    )


class Corpus(SyntheticCorpus):
    """`SyntheticCorpus`, whose character ids are mapped once per distinct word: large batches are Zipf-repetitive."""

    def character_ids(self, word_ids: numpy.ndarray) -> torch.Tensor:
        distinct, inverse = numpy.unique(word_ids, return_inverse=True)
        return super().character_ids(distinct)[torch.from_numpy(inverse.reshape(word_ids.shape))]


# -- the clock and the report ------------------------------------------------------------


class Clock:
    """The run's time budget, from its start: each part ends by its share (`PART_ENDS`)."""

    def __init__(self, seconds: float) -> None:
        self.start = time.monotonic()
        self.seconds = seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def deadline(self, part: str) -> float:
        return self.start + PART_ENDS[part] * self.seconds

    def fits(self, seconds: float, part: str) -> bool:
        """Whether work of about `seconds` ends before `part`'s deadline."""
        return time.monotonic() + seconds <= self.deadline(part)


@dataclass
class Part:
    """What one part reports: its tables and notes (why something was skipped, what failed)."""

    title: str
    description: str
    tables: List[Table] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    seconds: float = 0.0


class Report:
    """The Markdown report, rewritten whole after every part."""

    def __init__(self, path: str, settings: Settings, clock: Clock) -> None:
        self.path = path
        self.settings = settings
        self.clock = clock
        self.machine = machine_description(settings.device)
        self.parts: Dict[str, Part] = {}

    def write(self) -> None:
        settings = self.settings
        lines = [
            "# ELMo-C on one GPU: the device check" + (" (tiny CPU run)" if settings.tiny else ""),
            "",
            "Written by `benchmarks/device_check.sh` (`benchmarks/device_check.py`, whose docstring says what each "
            "part measures).  Rerun it on the GPU machine to refresh this file.",
            "",
            *[f"- {name}: {value}" for name, value in self.machine.items()],
            f"- vocabulary: {settings.config.vocab_size:,} words; step batch {settings.batch[0]}x{settings.batch[1]} "
            f"tokens; float32 matrix products {_tf32_state()}",
            f"- time: {self.clock.elapsed():.0f} s of a budget of {settings.budget_seconds:.0f} s",
            "",
        ]
        for key in PARTS:
            part = self.parts.get(key)
            if part is None:
                why = "not selected" if key not in settings.parts else "not reached (time budget or an earlier stop)"
                lines += [f"## {key}", "", f"_Not run: {why}._", ""]
                continue
            lines += [f"## {part.title}", "", part.description, ""]
            for table in part.tables:
                lines += [table.to_markdown(), ""]
            lines += [f"- {note}" for note in part.notes]
            lines += ["", f"_This part took {part.seconds:.0f} s._", ""]
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path + ".tmp", "w", encoding="utf-8") as stream:
            stream.write("\n".join(lines))
        os.replace(self.path + ".tmp", self.path)


def _tf32_state() -> str:
    allowed = torch.backends.cuda.matmul.allow_tf32
    return f"(TF32 {'allowed' if allowed else 'not allowed'} for float32 matmul)"


def _error(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:160]}"


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> Optional[float]:
    return torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None


# -- 1. training steps ---------------------------------------------------------------------


class AutocastModel(torch.nn.Module):
    """A model whose forward pass runs under autocast to `dtype` (none: float32), for `variants.training_step`."""

    def __init__(self, model: torch.nn.Module, device: torch.device, dtype: Optional[torch.dtype]) -> None:
        super().__init__()
        self.model = model
        self.device_type = device.type
        self.dtype = dtype

    def forward(self, **inputs):  # type: ignore[override]
        with torch.autocast(self.device_type, dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None):
            return self.model(**inputs)


def host_syncs(step: Callable[[], None], device: torch.device) -> Optional[int]:
    """How many times one call of `step` makes the host wait for the GPU (None on the CPU)."""
    if device.type != "cuda":
        return None
    synchronize(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    synchronize(device)
    return sum("synchroniz" in str(warning.message) for warning in caught)


def measure_step(model, optimizer, batches, precision: str, settings: Settings) -> Dict:
    """One variant's step in one precision: median seconds, spread, peak GiB, host syncs (or the error)."""
    device = settings.device
    step = training_step(AutocastModel(model, device, PRECISIONS[precision]), optimizer, batches)
    try:
        _reset_peak(device)
        timing = measure_rounds(
            {"step": step}, settings.warmup, settings.rounds, device, calls_per_round=settings.calls_per_round
        ).timings["step"]
        peak = _peak_gib(device)
        return {"seconds": timing.median, "spread": timing.spread, "peak_gib": peak, "syncs": host_syncs(step, device)}
    except Exception as error:  # noqa: BLE001  (one failed cell must not end the check)
        return {"error": _error(error)}


def time_variant(variant: str, size_name: str, corpus: SyntheticCorpus, settings: Settings) -> Dict[Tuple, Dict]:
    """Every precision of one variant at one size: {(row variant, precision): result}; ELMo-C also device-resident."""
    results: Dict[Tuple, Dict] = {}
    try:
        model = build_model(variant, SIZES[size_name], corpus, settings.config)
        optimizer = build_variant_optimizer(variant, model)
        batches = make_batches(variant, corpus, settings.batch, NUM_BATCHES, settings.device)
    except Exception as error:  # noqa: BLE001
        return {(variant, precision): {"error": _error(error)} for precision in PRECISIONS}
    rows = [variant, RESIDENT] if variant == "elmo_c" else [variant]
    for row in rows:
        if row == RESIDENT:
            model.output_layer.target_embeddings.device_resident = True
        for precision in PRECISIONS:
            results[(row, precision)] = measure_step(model, optimizer, batches, precision, settings)
    del model, optimizer, batches
    _free(settings.device)
    return results


def steps_part(corpus: SyntheticCorpus, settings: Settings, clock: Clock) -> Tuple[Part, Dict[Tuple, Dict]]:
    """Part 1; also returns every result by (size, row variant, precision) for the later parts."""
    part = Part("1. Training step", _part_description(0))
    results: Dict[Tuple, Dict] = {}
    skipped: List[str] = []
    last_seconds = 0.0
    for size_name in settings.sizes:
        for variant in ["elmo_c"] + [v for v in STEP_VARIANTS if v != "elmo_c"]:
            if not clock.fits(last_seconds, "steps"):
                skipped.append(f"{size_name} {variant}")
                continue
            started = time.monotonic()
            print(f"[device_check] steps: {size_name} {variant}", flush=True)
            for (row, precision), result in time_variant(variant, size_name, corpus, settings).items():
                results[(size_name, row, precision)] = result
            last_seconds = time.monotonic() - started
    part.tables.append(_steps_table(results, settings))
    part.notes += _steps_notes(settings)
    if any("Does not support dtype torch.bfloat16" in result.get("error", "") for result in results.values()):
        part.notes.append(
            "AllenNLP's recipe fails under bfloat16 autocast in AllenNLP 2.10.1's own code: its `LayerNorm` (in the "
            "`cnn-highway` character encoder) calls `allennlp.nn.util.tiny_value_of_dtype`, which knows float16, "
            "float32 and float64 only.  AllenNLP's `use_amp` (float16) is not affected."
        )
    if skipped:
        part.notes.append("Skipped to keep to the time budget: " + ", ".join(skipped) + ".")
    return part, results


def _steps_table(results: Dict[Tuple, Dict], settings: Settings) -> Table:
    batch_size, length = settings.batch
    table = Table(
        f"Training step at V={settings.config.vocab_size:,}, batch {batch_size}x{length} (median of "
        f"{settings.rounds} rounds of {settings.calls_per_round} steps)",
        ["size", "variant", "precision", "ms / step", "tokens / s", "time / ELMo-C's", "spread", "peak GiB",
         "host syncs / step"],
    )
    size_order = [name for name in SIZES if name in settings.sizes]
    for size_name in size_order:
        size = SIZES[size_name]
        for row in [v for v in ROW_LABELS if v in STEP_VARIANTS or v == RESIDENT]:
            for precision in PRECISIONS:
                result = results.get((size_name, row, precision))
                if result is None:
                    continue
                label = f"{size_name} ({size.cell_size}/{size.projection_dim})"
                if "error" in result:
                    table.add(label, ROW_LABELS[row], precision, f"failed: {result['error']}", None, None, None, None,
                              None)
                    continue
                reference = results.get((size_name, "elmo_c", precision), {}).get("seconds")
                table.add(
                    label, ROW_LABELS[row], precision, 1e3 * result["seconds"],
                    batch_size * length / result["seconds"],
                    result["seconds"] / reference if reference else None, result["spread"], result["peak_gib"],
                    result["syncs"],
                )
    return table


def _steps_notes(settings: Settings) -> List[str]:
    notes = [
        "`bf16` runs the forward pass under `torch.autocast(dtype=torch.bfloat16)` (the backward follows its "
        "dtypes); the losses, the log-softmaxes and ELMo-C's metrics stay float32 (see the output layers).  "
        "`peak GiB` is `torch.cuda.max_memory_allocated` over the warm-up and timed steps of that row: model, "
        "gradients, Adam's state, activations (and the resident table in its row).",
        "`host syncs / step`: the synchronising CUDA calls of one step (`torch.cuda.set_sync_debug_mode`).  "
        "The encoder-only row shows what every variant shares (input layer, encoder, clipping, optimizer); "
        "ELMo-C's output layer adds none with the resident table, and one per direction with the host table "
        "(the ids go to the host); the softmax baselines select the real positions by mask, the sampled "
        "softmax samples on the host and the adaptive softmax selects its clusters by mask.  AllenNLP's "
        "trainer adds its own per batch (`loss.item()`, the gradient norm, the metrics), which this step has not.",
    ]
    if not settings.on_gpu:
        notes.append("On the CPU there is no device memory to read and no host synchronisation: those columns are "
                     "empty.")
    return notes


# -- 2. the largest batch in a memory budget ---------------------------------------------------


def try_batch(model: AutocastModel, optimizer, variant: str, corpus, shape, settings: Settings) -> Dict:
    """Two steps on one batch of `shape` (the second timed): {"peak_gib", "seconds"}, or {"oom": error text}."""
    device = settings.device
    batches = step = None
    try:
        batches = make_batches(variant, corpus, shape, 1, device)
        step = training_step(model, optimizer, batches)
        _reset_peak(device)
        step()
        synchronize(device)
        started = time.perf_counter()
        step()
        synchronize(device)
        return {"peak_gib": _peak_gib(device), "seconds": time.perf_counter() - started}
    except torch.OutOfMemoryError as error:
        return {"oom": _error(error)}
    finally:
        del batches, step
        optimizer.zero_grad(set_to_none=True)
        _free(device)


def largest_batch(variant: str, corpus: SyntheticCorpus, settings: Settings, clock: Clock) -> Dict:
    """Doubles the batch from `search_start` sentences until it fails, passes the budget, or reaches `search_cap`."""
    device, length = settings.device, settings.batch[1]
    model = build_model(variant, SIZES[settings.search_size], corpus, settings.config)
    optimizer = build_variant_optimizer(variant, model)
    wrapped = AutocastModel(model, device, PRECISIONS["bf16"])
    found: Dict = {"sentences": None, "stop": f"the cap of {settings.search_cap} sentences"}
    sentences, last_seconds = settings.search_start, 0.0
    try:
        while sentences <= settings.search_cap:
            if not clock.fits(2 * last_seconds, "max_batch"):
                found["stop"] = "the time budget"
                break
            started = time.monotonic()
            outcome = try_batch(wrapped, optimizer, variant, corpus, (sentences, length), settings)
            last_seconds = time.monotonic() - started
            if "oom" in outcome:
                found["stop"] = f"out of memory at {sentences}"
                break
            if outcome["peak_gib"] is not None and outcome["peak_gib"] > settings.memory_budget_gib:
                found["stop"] = f"over the budget at {sentences} ({outcome['peak_gib']:.1f} GiB)"
                break
            found.update(outcome, sentences=sentences)
            sentences *= 2
    finally:
        del model, optimizer, wrapped
        _free(device)
    return found


def max_batch_part(corpus: SyntheticCorpus, settings: Settings, clock: Clock) -> Part:
    part = Part("2. Largest batch in a memory budget", _part_description(1))
    length = settings.batch[1]
    budget = f"{settings.memory_budget_gib:g} GiB" if settings.on_gpu else "none (CPU: up to the cap)"
    table = Table(
        f"Largest batch at the {settings.search_size} size, V={settings.config.vocab_size:,}, bf16 autocast, "
        f"memory budget {budget}",
        ["variant", "sentences", "tokens / batch", "peak GiB", "ms / step", "tokens / s", "stopped by"],
    )
    limit = _limit_memory(settings)
    try:
        for variant in SEARCH_ORDER:
            if not clock.fits(0.0, "max_batch"):
                part.notes.append(f"{LABELS[variant]} and later variants skipped to keep to the time budget.")
                break
            print(f"[device_check] max_batch: {variant}", flush=True)
            try:
                found = largest_batch(variant, corpus, settings, clock)
            except Exception as error:  # noqa: BLE001
                table.add(LABELS[variant], None, None, None, None, None, f"failed: {_error(error)}")
                continue
            sentences = found["sentences"]
            tokens = sentences * length if sentences else None
            seconds = found.get("seconds")
            table.add(LABELS[variant], sentences, tokens, found.get("peak_gib"),
                      1e3 * seconds if seconds else None, tokens / seconds if tokens and seconds else None,
                      found["stop"])
    finally:
        limit()
    part.tables.append(table)
    part.notes.append(
        "Each batch size gets two steps (the first allocates, the second is timed); an out-of-memory error is "
        "caught, the memory freed, and the search stops there.  The budget is enforced with "
        "`torch.cuda.set_per_process_memory_fraction`, so the allocator's cache counts too."
    )
    return part


def _limit_memory(settings: Settings) -> Callable[[], None]:
    """Caps this process's GPU memory at the budget; returns the function that lifts the cap."""
    if not settings.on_gpu:
        return lambda: None
    total = torch.cuda.get_device_properties(settings.device).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, settings.memory_budget_gib * GIB / total), settings.device)
    return lambda: torch.cuda.set_per_process_memory_fraction(1.0, settings.device)


# -- synthetic data for the loader and `allennlp train` ----------------------------------


@dataclass
class SyntheticData:
    """Files `allennlp train` reads: corpus, a small validation file, the vocabulary (with counts), the targets."""

    train: str
    validation: str
    vocabulary: str
    targets: str
    target_words: str
    tokens: int


def write_synthetic_data(corpus: SyntheticCorpus, tokens: int, directory: str) -> SyntheticData:
    """Zipf sentences of 25 words over the corpus' vocabulary, and what training on them needs."""
    os.makedirs(directory, exist_ok=True)
    words = numpy.array(corpus.words, dtype=object)
    rng = corpus.rng(stream=30)
    paths = {name: os.path.join(directory, name) for name in ("train.txt", "valid.txt", "targets.words.txt")}
    for name, count in (("train.txt", tokens), ("valid.txt", 2_000)):
        with open(paths[name], "w", encoding="utf-8") as stream:
            for row in corpus.sample_ids((max(1, count // 25), 25), rng):
                stream.write(" ".join(words[row - 2]) + "\n")
    vocabulary = _write_vocabulary(corpus, os.path.join(directory, "vocabulary"))
    # The synthetic table's rows are ids: row 0 stands for FastText's "</s>" (ELMo's boundaries), row 1 for nothing.
    with open(paths["targets.words.txt"], "w", encoding="utf-8") as stream:
        stream.write("</s>\n__unused_row__\n" + "\n".join(corpus.words) + "\n")
    return SyntheticData(paths["train.txt"], paths["valid.txt"], vocabulary, corpus.target_table_path(),
                         paths["targets.words.txt"], tokens)


def _write_vocabulary(corpus: SyntheticCorpus, directory: str) -> str:
    """The corpus' words and ELMo's boundaries as a `from_files` vocabulary, with Zipf counts (`counted`'s file)."""
    from allennlp.data import Vocabulary

    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["<S>", "</S>"] + corpus.words, "tokens")
    vocab.save_to_files(directory)
    ranks = numpy.arange(1, len(corpus.words) + 1, dtype=numpy.float64)
    counts = numpy.concatenate([[0, 0, 10**7, 10**7], numpy.maximum(1, numpy.round(10**8 / ranks))])
    numpy.savetxt(os.path.join(directory, ".counts.tokens.txt"), counts, fmt="%d")
    return directory


# -- 3. one loader worker ------------------------------------------------------------------


def worker_tokens_per_second(data: SyntheticData, settings: Settings) -> Tuple[float, int]:
    """
    What one worker of AllenNLP's multiprocess loader does, in this process, for
    `loader_seconds`: read and index instances with the config's reader, and turn
    batches of 64 into tensors.  Returns (tokens/s, tokens read).
    """
    from allennlp.common import Params
    from allennlp.data import Batch, DatasetReader, Vocabulary

    params = Params.from_file(TRAIN_CONFIG, ext_vars=_train_environment(data))
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    vocab = Vocabulary.from_files(data.vocabulary)
    batch, tokens = [], 0
    started = time.perf_counter()
    for instance in reader.read(data.train):
        instance.index_fields(vocab)
        batch.append(instance)
        tokens += len(instance["source"])
        if len(batch) == 64:
            Batch(batch).as_tensor_dict()
            batch = []
            if time.perf_counter() - started >= settings.loader_seconds:
                break
    return tokens / (time.perf_counter() - started), tokens


def loader_part(data: SyntheticData, step_results: Dict[Tuple, Dict], settings: Settings) -> Tuple[Part, int]:
    """Part 3; also returns the workers ELMo-C's step at the end-to-end run's size needs (0: not measured)."""
    part = Part("3. One loader worker against the step", _part_description(2))
    rate, tokens = worker_tokens_per_second(data, settings)
    table = Table(
        f"One loader worker ({tokens:,} tokens read in {settings.loader_seconds:g} s) against ELMo-C's step",
        ["worker tokens / s", "ELMo-C step", "step tokens / s", "workers needed"],
    )
    needed = {}
    for (size_name, precision), step_rate in _elmo_c_rates(step_results, settings).items():
        table.add(rate, f"{size_name}, {precision}", step_rate, math.ceil(step_rate / rate))
        needed[size_name] = max(needed.get(size_name, 0), math.ceil(step_rate / rate))
    if not needed:
        table.add(rate, "not measured", None, None)
    part.tables.append(table)
    part.notes.append(
        "A worker here is the main process doing a worker's work (no inter-process queue); the bucket sampler's "
        "sorting within `max_instances_in_memory` is left out.  `workers needed` = step tokens/s / worker tokens/s, "
        "rounded up: fewer, and the GPU waits for data."
    )
    return part, needed.get(settings.search_size, 0)


def _elmo_c_rates(step_results: Dict[Tuple, Dict], settings: Settings) -> Dict[Tuple[str, str], float]:
    """ELMo-C's tokens/s (host table) by (size, precision), from part 1."""
    batch_size, length = settings.batch
    return {
        (size_name, precision): batch_size * length / result["seconds"]
        for (size_name, row, precision), result in sorted(step_results.items())
        if row == "elmo_c" and "seconds" in result
    }


# -- 4. `allennlp train` end to end ----------------------------------------------------------


def _train_environment(data: SyntheticData) -> Dict[str, str]:
    return {
        "ELMO_C_TRAIN": data.train,
        "ELMO_C_VALIDATION": data.validation,
        "ELMO_C_TARGETS": data.targets,
        "ELMO_C_TARGETS_DIM": "300",
    }


def train_overrides(data: SyntheticData, settings: Settings, workers: int) -> Dict:
    """
    The config's paper-size model as it is; the data, loader and trainer set for a
    timed run.  Dotted keys: AllenNLP's `-o` replaces whatever a plain key names.
    """
    targets = "model.output_layer.target_embeddings."
    overrides = {
        "vocabulary": {"type": "from_files", "directory": data.vocabulary},
        targets + "words_path": data.target_words,
        targets + "cache_dir": os.path.join(settings.work_dir, "target_cache"),
        targets + "device_resident": True,
        "data_loader.num_workers": workers,
        "trainer.num_epochs": 1000,
        "trainer.cuda_device": 0 if settings.on_gpu else -1,
        "trainer.use_amp": settings.on_gpu,
        "trainer.callbacks": [
            {"type": "rng_state"},
            {"type": "resumable_metrics"},
            {"type": "throughput", "log_every_seconds": settings.train_log_seconds, "refresh_seconds": 0.5},
        ],
    }
    if settings.tiny:
        overrides.update({
            "model.input_layer.projection_dim": 16,
            "model.input_layer.filters": [[1, 8], [2, 8], [3, 16]],
            "model.input_layer.num_highway": 1,
            "model.encoder.cell_size": 32,
            "model.encoder.projection_dim": 16,
        })
    return overrides


class GpuSampler:
    """`nvidia-smi`'s utilisation and memory every second, in the background (nothing where it is missing)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.process = None
        if shutil.which("nvidia-smi"):
            self.stream = open(path, "w")
            self.process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                 "-lms", "1000"],
                stdout=self.stream, stderr=subprocess.DEVNULL,
            )

    def stop(self) -> Optional[Dict[str, float]]:
        if self.process is None:
            return None
        self.process.terminate()
        self.process.wait(timeout=10)
        self.stream.close()
        samples = []
        with open(self.path) as stream:
            for line in stream:
                try:
                    samples.append([float(value) for value in line.split(",")[:2]])
                except ValueError:
                    continue
        if not samples:
            return None
        values = numpy.array(samples)
        return {"util_mean": values[:, 0].mean(), "util_median": float(numpy.median(values[:, 0])),
                "memory_max_mib": values[:, 1].max(), "samples": len(values)}


def run_training(data: SyntheticData, settings: Settings, workers: int, clock: Clock) -> Dict:
    """Runs `allennlp train` until `train_seconds` after its first throughput line (or the deadline), then kills it."""
    serialization = os.path.join(settings.work_dir, "train")
    shutil.rmtree(serialization, ignore_errors=True)
    log_path = os.path.join(settings.work_dir, "train.log")
    command = [sys.executable, "-m", "allennlp", "train", TRAIN_CONFIG, "-s", serialization,
               "--include-package", "elmo_c", "-o", json.dumps(train_overrides(data, settings, workers))]
    environment = dict(os.environ, **_train_environment(data))
    environment["PYTHONPATH"] = REPOSITORY + os.pathsep + environment.get("PYTHONPATH", "")
    launched = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPOSITORY, env=environment, stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=_own_group_dying_with_parent)
    sampler = None
    try:
        first = _wait_for(lambda: TRAIN_LINE.search(_read(log_path)), process, clock.deadline("train") - 5)
        if first is None:
            return {"error": "no throughput line before the deadline", "log": _tail(log_path)}
        startup = time.monotonic() - launched
        sampler = GpuSampler(os.path.join(settings.work_dir, "nvidia_smi.csv"))
        end = time.monotonic() + settings.train_seconds
        # The window, and then until two intervals between log lines are in (a loaded machine logs late).
        _wait_for(lambda: time.monotonic() >= end and _throughput(_read(log_path))["intervals"] >= 2, process,
                  clock.deadline("train") - 5)
        ended_by_itself = process.poll() is not None
    finally:
        gpu = sampler.stop() if sampler is not None else None
        _kill(process)
    return {**_throughput(_read(log_path)), "startup_s": startup, "gpu": gpu, "log": _tail(log_path),
            "ended_by_itself": ended_by_itself, "exit": process.returncode}


def _wait_for(condition: Callable[[], object], process: subprocess.Popen, deadline: float):
    """Polls `condition` every half second until it holds, the process ends, or `deadline`; returns its value."""
    while time.monotonic() < deadline:
        value = condition()
        if value or process.poll() is not None:
            return value or None
        time.sleep(0.5)
    return None


def _own_group_dying_with_parent() -> None:
    """In the training run's process: a process group of its own (for `_kill`), and death with this script."""
    os.setpgrp()
    try:  # Linux: SIGKILL when the parent dies (e.g. the shell script's hard timeout), so no run outlives it
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _kill(process: subprocess.Popen) -> None:
    """Ends the training run and its loader workers (its own process group): SIGKILL, so nothing is archived."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as stream:
        return stream.read()


def _tail(path: str, lines: int = 15) -> str:
    return "\n".join(_read(path).replace("\r", "\n").splitlines()[-lines:])


def _throughput(log: str) -> Dict:
    """
    Steady tokens/s from the throughput callback's log lines: the tokens between
    consecutive lines of the same epoch over the time between them (the first
    line of each epoch, which includes its start, only opens the interval).
    """
    lines = []
    for match in TRAIN_LINE.finditer(log):
        stamp = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")) + int(match.group(2)) / 1e3
        lines.append((stamp, int(match.group(3)), int(match.group(4).replace(",", ""))))
    tokens = seconds = 0.0
    intervals = 0
    for (t0, epoch0, n0), (t1, epoch1, n1) in zip(lines, lines[1:]):
        if epoch0 == epoch1 and n1 >= n0 and t1 > t0:
            tokens, seconds, intervals = tokens + n1 - n0, seconds + t1 - t0, intervals + 1
    return {"tokens_per_s": tokens / seconds if seconds else None, "measured_s": seconds, "log_lines": len(lines),
            "intervals": intervals}


def train_part(corpus: SyntheticCorpus, data: SyntheticData, workers: int, settings: Settings, clock: Clock) -> Part:
    part = Part("4. `allennlp train` end to end", _part_description(3))
    print(f"[device_check] train: {workers} loader workers", flush=True)
    result = run_training(data, settings, workers, clock)
    size = "tiny (toy sizes)" if settings.tiny else "paper (training_config/elmo_c.jsonnet)"
    table = Table(
        f"`allennlp train`, {size}, V={corpus.vocab_size + 2:,}, {data.tokens:,}-token synthetic corpus",
        ["loader workers", "precision", "measured over (s)", "tokens / s", "startup (s)", "GPU utilisation % (mean)",
         "GPU utilisation % (median)", "GPU memory max (MiB)"],
    )
    gpu = result.get("gpu") or {}
    precision = "use_amp (float16 autocast)" if settings.on_gpu else "fp32"
    if "error" in result:
        table.add(workers, precision, None, f"failed: {result['error']}", None, None, None, None)
    else:
        table.add(workers, precision, result["measured_s"], result["tokens_per_s"], result["startup_s"],
                  gpu.get("util_mean"), gpu.get("util_median"), gpu.get("memory_max_mib"))
    part.tables.append(table)
    part.notes.append(
        "tokens/s is the throughput callback's count (words and boundaries of the real positions) between its log "
        f"lines (every {settings.train_log_seconds:g} s), leaving out the start of the run.  The run is killed "
        "(SIGKILL, nothing archived) when the window ends.  Startup: from launch to the first log line (imports, "
        "vocabulary, aligning and copying the target table, building the model, the first batches)."
    )
    if not gpu and settings.on_gpu:
        part.notes.append("nvidia-smi was not found (or gave no samples): no utilisation figures.")
    if result.get("ended_by_itself"):
        part.notes.append(f"The run ended by itself before the window did (exit status {result['exit']}).")
    if "error" in result or not result.get("tokens_per_s") or result.get("ended_by_itself"):
        part.notes.append("The end of the run's log:\n\n```\n" + result.get("log", "") + "\n```")
    return part


# -- the run -------------------------------------------------------------------------------


def _part_description(index: int) -> str:
    """The docstring's paragraph on part `index` (0-based), on one line."""
    items = re.split(r"\n(?=\d\. `)", __doc__.split("\n\n")[2])
    return " ".join(items[index].split())


def _corpus_tokens(step_results: Dict[Tuple, Dict], settings: Settings) -> int:
    """Enough text that the end-to-end run does not reach the end of an epoch (1.5x ELMo-C's fastest step there)."""
    rates = [rate for (size, _), rate in _elmo_c_rates(step_results, settings).items() if size == settings.search_size]
    fastest = max(rates, default=5_000.0 if settings.tiny else 100_000.0)
    wanted = int(1.5 * fastest * settings.train_seconds)
    return min(max(settings.train_min_tokens, wanted), 30_000_000)


def run(settings: Settings, output: str) -> Report:
    clock = Clock(settings.budget_seconds)
    report = Report(output, settings, clock)
    report.write()
    corpus = Corpus(settings.config.vocab_size, settings.cache_dir, settings.config.seed)
    step_results: Dict[Tuple, Dict] = {}
    data: Optional[SyntheticData] = None
    workers = settings.train_workers
    for key in PARTS:
        if key not in settings.parts:
            continue
        if not clock.fits(0.0, key):
            print(f"[device_check] {key}: skipped (time budget)", flush=True)
            continue
        started = time.monotonic()
        try:
            if key == "steps":
                part, step_results = steps_part(corpus, settings, clock)
            elif key == "max_batch":
                part = max_batch_part(corpus, settings, clock)
            else:
                if data is None:
                    data = write_synthetic_data(corpus, _corpus_tokens(step_results, settings),
                                                os.path.join(settings.work_dir, "data"))
                if key == "loader":
                    part, needed = loader_part(data, step_results, settings)
                    workers = workers if workers is not None else _workers(needed, settings)
                else:
                    part = train_part(corpus, data, workers if workers is not None else _workers(0, settings),
                                      settings, clock)
        except Exception as error:  # noqa: BLE001  (a failed part must not lose the others)
            part = Part(key, f"_Failed: {_error(error)}_")
        part.seconds = time.monotonic() - started
        report.parts[key] = part
        report.write()
    return report


def _workers(needed: int, settings: Settings) -> int:
    """Loader workers for the end-to-end run: one more than needed, within the cores left to the trainer."""
    if settings.tiny:
        return 1
    spare = max(1, (os.cpu_count() or 2) - 2)
    return min(spare, max(2, needed + 1))


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="toy sizes on the CPU (the test suite's run)")
    parser.add_argument("--output", help="the report (default: benchmarks/RESULTS_gpu.md; with --tiny a temp file)")
    parser.add_argument("--budget-seconds", type=float, help="the whole run's time (default 420; --tiny 50)")
    parser.add_argument("--memory-budget-gib", type=float, default=40.0, help="part 2's budget (default 40)")
    parser.add_argument("--train-seconds", type=float, help="part 4's measured window (default 60; --tiny 3)")
    parser.add_argument("--workers", type=int, help="part 4's loader workers (default: from part 3)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--cache-dir", default=default_cache_dir(), help="synthetic tables and subword models")
    parser.add_argument("--work-dir", help="data and the training run (default: a temporary directory)")
    args = parser.parse_args(argv)
    if not args.tiny and not torch.cuda.is_available():
        parser.error("no CUDA device: run on the GPU machine, or use --tiny for the CPU check")
    temporary = None
    if args.work_dir is None:
        temporary = args.work_dir = tempfile.mkdtemp(prefix="elmo_c_device_check_")
    output = args.output or (
        os.path.join(tempfile.gettempdir(), "elmo_c_device_check_tiny.md") if args.tiny else DEFAULT_OUTPUT
    )
    settings = tiny_settings(args) if args.tiny else gpu_settings(args)
    try:
        report = run(settings, output)
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
    print(f"[device_check] wrote {output} after {report.clock.elapsed():.0f} s", flush=True)


if __name__ == "__main__":
    main()
