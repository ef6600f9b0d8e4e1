"""
1. Output layers against the vocabulary size.

What: the library's output layers alone (`continuous`, ELMo-C's; `sampled_softmax`
with 8192 samples, ELMo's; `adaptive_softmax`, ELMo-A's; the full `softmax`), with
encoder states of m = 512 (the paper's projection) and 300-d targets, for
vocabularies of 10K, 100K, 800K words (and 2M in the full run).  One step is what
training does with them per batch: both directions with 1280 targets each (a batch
of 64 x 20 tokens), each direction's loss averaged as the model averages it,
backward into the states (which require grad, as the encoder's output does), and
the layer's optimizer step (Adam; `dense_sparse_adam` for the sampled softmax's
sparse gradients, as `training_config/elmo.jsonnet`).  Target ids are drawn from
Zipf's law over the vocabulary (2 different batches, cycled).

How: for each vocabulary size the layers are built, then timed together with
`timing.measure` (warm-up steps, at least one per batch, then rounds in a random
order, every layer called as many times per round; median; ratios paired by round,
with 95% bootstrap intervals, `intervals.py`): the warm-up also reads every target
row of the batches once, as a long training run has (ELMo-C's table is
memory-mapped: the first read of a page costs a page fault, once per page over the
whole run).  They are timed together with
the continuous layer at the smallest vocabulary, so that the ratio of the
continuous layer's time at V to its time at the smallest V comes from the same
interleaved measurement.  A layer whose training memory (16 bytes per parameter,
plus the full softmax's logits and their gradients) would exceed the memory budget
is skipped with a note.

    .venv/bin/python benchmarks/output_layers.py [--quick] [--device cpu|cuda]
"""
if not __package__:  # run by path: see bootstrap.py
    import bootstrap  # noqa: F401

import gc
import time
from typing import Callable, Dict, List, Optional, Tuple

from benchmarks import plots
from benchmarks.common import Config, SyntheticCorpus
from benchmarks.intervals import Interval, add_headline, timing_ratio
from benchmarks.report import Benchmark, Plot, Section, Table, describe, ratio
from benchmarks.timing import Timing, measure
from benchmarks.variants import (
    BYTES_PER_TRAINED_PARAMETER,
    NUM_TARGET_BATCHES,
    output_layer_parameters,
    output_layer_step,
)

LAYERS = ("continuous", "sampled", "adaptive", "softmax")
LABELS = {
    "continuous": "continuous (ELMo-C)",
    "sampled": "sampled softmax (ELMo)",
    "adaptive": "adaptive softmax (ELMo-A)",
    "softmax": "full softmax",
}
REFERENCE = "continuous@Vmin"


def estimated_bytes(kind: str, corpus: SyntheticCorpus, config: Config) -> float:
    """Training memory of a layer: its parameters' 16 bytes, plus the full softmax's logits."""
    parameters = output_layer_parameters(kind, config.output_input_dim, corpus, config)
    logits = 2 * config.output_targets * corpus.vocab_size * 4 * 3 if kind == "softmax" else 0
    return float(BYTES_PER_TRAINED_PARAMETER * parameters + logits)


def skip_reason(kind: str, corpus: SyntheticCorpus, config: Config) -> Optional[str]:
    """Why a layer is not timed at this vocabulary size, or None."""
    if kind == "softmax" and corpus.vocab_size > (config.full_softmax_max_vocab or corpus.vocab_size):
        return f"skipped in --{config.mode} (about 10 s per step at V=100K on 1 core): see the full run"
    need = estimated_bytes(kind, corpus, config)
    if need > config.memory_budget_bytes:
        return (
            f"skipped: needs about {need / 2**30:.1f} GiB, over the memory budget of "
            f"{config.memory_budget_bytes / 2**30:.1f} GiB (--memory-budget-gb)"
        )
    return None


def _time_vocabulary(
    corpus: SyntheticCorpus, reference: SyntheticCorpus, config: Config
) -> Tuple[Dict[str, Timing], Dict[str, str]]:
    steps: Dict[str, Callable[[], None]] = {}
    skipped: Dict[str, str] = {}
    for kind in LAYERS:
        reason = skip_reason(kind, corpus, config)
        if reason is not None:
            skipped[kind] = reason
        else:
            steps[kind] = output_layer_step(kind, corpus, config.output_input_dim, config.output_targets, config)
    if corpus is not reference:
        steps[REFERENCE] = output_layer_step(
            "continuous", reference, config.output_input_dim, config.output_targets, config
        )
    timings = measure(steps, max(config.warmup, NUM_TARGET_BATCHES), config.repeats, config.device)
    del steps
    gc.collect()
    return timings, skipped


def run(config: Config) -> Section:
    started = time.perf_counter()
    section = SECTION.result(describe(__doc__))
    table = Table(
        f"Output layer step (forward + backward + optimizer, both directions, {config.output_targets} "
        f"targets each, m={config.output_input_dim}, d=300), ms (median over {config.repeats} rounds)",
        ["V", "layer", "ms / step", "min", "max", "time / continuous's"],
    )
    vocab_sizes = sorted(config.output_vocab_sizes)
    reference = config.corpus(vocab_sizes[0])
    medians: Dict[Tuple[int, str], Optional[float]] = {}
    speedups: Dict[Tuple[int, str], Interval] = {}
    for vocab_size in vocab_sizes:
        corpus = reference if vocab_size == reference.vocab_size else config.corpus(vocab_size)
        timings, skipped = _time_vocabulary(corpus, reference, config)
        medians.update(_add_rows(table, vocab_size, timings, skipped))
        speedups.update(
            {(vocab_size, kind): timing_ratio(timing, timings["continuous"]) for kind, timing in timings.items()}
        )
        if REFERENCE in timings:
            add_headline(
                section, f"continuous_output_time_ratio_V{vocab_size}_over_V{vocab_sizes[0]}",
                timing_ratio(timings["continuous"], timings[REFERENCE]),
            )
    section.tables.append(table)
    _headlines(section, speedups, vocab_sizes)
    section.notes.append(
        "The ratio of the continuous layer's time at V to its time at the smallest V is measured within the "
        "same interleaved run (the smallest-V layer is timed again with every vocabulary size)."
    )
    section.plots.append(_plot(medians, vocab_sizes))
    section.seconds = time.perf_counter() - started
    return section


def _add_rows(
    table: Table, vocab_size: int, timings: Dict[str, Timing], skipped: Dict[str, str]
) -> Dict[Tuple[int, str], Optional[float]]:
    """One row per layer at a vocabulary size; returns the medians (None where skipped)."""
    medians: Dict[Tuple[int, str], Optional[float]] = {}
    for kind in LAYERS:
        if kind in skipped:
            table.add(vocab_size, LABELS[kind], None, None, None, skipped[kind])
            medians[(vocab_size, kind)] = None
            continue
        timing = timings[kind]
        medians[(vocab_size, kind)] = timing.median
        table.add(
            vocab_size, LABELS[kind], 1e3 * timing.median, 1e3 * timing.min, 1e3 * timing.max,
            ratio(timing.median, timings["continuous"].median),
        )
    return medians


def _headlines(section: Section, speedups: Dict[Tuple[int, str], Interval], vocab_sizes: List[int]) -> None:
    """Continuous vs sampled at every V; vs adaptive and vs full softmax at the largest V where they ran."""
    for kind, every_size in (("sampled", True), ("adaptive", False), ("softmax", False)):
        measured = [v for v in vocab_sizes if (v, kind) in speedups]
        for vocab_size in measured if every_size else measured[-1:]:
            add_headline(section, f"continuous_vs_{kind}_output_speedup_V{vocab_size}", speedups[(vocab_size, kind)])


def _plot(medians: Dict[Tuple[int, str], Optional[float]], vocab_sizes: List[int]) -> Plot:
    def milliseconds(value: Optional[float]) -> float:
        return 1e3 * value if value is not None else float("nan")

    series = {LABELS[kind]: [milliseconds(medians[(v, kind)]) for v in vocab_sizes] for kind in LAYERS}
    return Plot(
        "output_layer_vs_vocabulary.png",
        lambda path: plots.line_chart(
            path, "Output layer training step vs vocabulary size", vocab_sizes, series,
            "vocabulary size V", "ms per step (median)",
        ),
    )


SECTION = Benchmark(
    "output_layers",
    "1. Output layer vs vocabulary size",
    run,
    headlines=(
        "continuous_output_time_ratio_V*_over_V*",
        "continuous_vs_sampled_output_speedup_V*",
        "continuous_vs_adaptive_output_speedup_V*",
        "continuous_vs_softmax_output_speedup_V*",
    ),
)


if __name__ == "__main__":
    from benchmarks.suite import main

    main({SECTION.name: SECTION}, description=__doc__)
