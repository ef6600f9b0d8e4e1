"""
2. Whole training step (tokens/s) at V = 800K, for several encoder sizes.

What: a trainer step (zero grad, forward, backward, gradient-norm clipping,
optimizer step) of every variant of `variants.py` -- ELMo-C, ELMo (sampled
softmax), ELMo-A, ELMo-Sub, the encoder with no output layer at all (the limit any
output layer can approach), and AllenNLP's own ELMo recipe (`allennlp_recipe.py`)
-- on batches of full 20-token windows of Zipf-distributed words, with an 800K-word
vocabulary, for encoder sizes from the CPU-sized one to the paper's.  Next to
them, the continuous output layer alone at the same size and number of targets
(`variants.output_layer_step`), timed in the same run, gives its share of the
ELMo-C step.

How: per encoder size, the variants are built (seeded: the same weights in every
run) and timed together with `timing.measure_rounds` (warm-up steps, at least one
per batch so that every row of ELMo-C's memory-mapped table the batches need has
been read once, as in a long run; then rounds, each in a random order, every
variant called as many times per round), in as few groups as the memory budget
allows (16 bytes per parameter).  ELMo-C and the encoder alone are built and
timed in *every* group, and each ratio comes from a group that holds both of its
sides, so every ratio is paired by round (the continuous layer alone joins the
first group); the references' second builds show what a rebuild changes.
tokens/s = tokens per batch / median step time.  Ratios come with 95% bootstrap
intervals (`intervals.py`); so do the differences of what the steps are made of.

    .venv/bin/python benchmarks/training_step.py [--quick] [--device cpu|cuda]
"""
if not __package__:  # run by path: see bootstrap.py
    import bootstrap  # noqa: F401

import gc
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

from benchmarks import plots
from benchmarks.common import SIZES, Config, ModelSize, SyntheticCorpus
from benchmarks.intervals import (
    MIN_ROUNDS,
    Interval,
    add_headline,
    impossible_ordering,
    timing_difference,
    timing_ratio,
)
from benchmarks.report import Benchmark, Plot, Section, Table, describe
from benchmarks.timing import Measurement, Timing, measure_rounds
from benchmarks.variants import (
    LABELS,
    STEP_VARIANTS,
    build_model,
    build_variant_optimizer,
    estimated_training_bytes,
    make_batches,
    output_layer_step,
    training_step,
)

OUTPUT_ONLY = "continuous_output_only"
# Timed in every memory group: every ratio is to one of them.
REFERENCES = ("encoder_only", "elmo_c")
NUM_BATCHES = 2
STEP_LABELS = {**LABELS, OUTPUT_ONLY: "continuous output layer alone"}
# (step, a strict part of its work): the step cannot be the faster of the two.
STRICT_PARTS = (
    *((variant, "encoder_only") for variant in ("elmo_c", "elmo", "elmo_a", "elmo_sub")),
    ("elmo_c", OUTPUT_ONLY),
)


@dataclass
class GroupedTimings:
    """The timings of one size, one dict per memory group; every group holds the `REFERENCES`."""

    groups: List[Dict[str, Timing]]

    def of(self, variant: str) -> Timing:
        """A variant's timing, from the first group that holds it."""
        return next(group[variant] for group in self.groups if variant in group)

    def pair(self, first: str, second: str) -> Tuple[Timing, Timing]:
        """Both timings from one group (paired by round); from their own groups if no group holds both."""
        for group in self.groups:
            if first in group and second in group:
                return group[first], group[second]
        return self.of(first), self.of(second)

    def paired(self, first: str, second: str) -> bool:
        return any(first in group and second in group for group in self.groups)

    def ratio(self, numerator: str, denominator: str) -> Interval:
        return timing_ratio(*self.pair(numerator, denominator))

    def difference(self, minuend: str, subtrahend: str) -> Interval:
        return timing_difference(*self.pair(minuend, subtrahend))


def _groups(size: ModelSize, corpus: SyntheticCorpus, config: Config) -> List[List[str]]:
    """
    The variants in groups that fit in the memory budget together, each group
    starting with the `REFERENCES` (counted in every group's budget).
    """
    reference_bytes = sum(estimated_training_bytes(v, size, corpus, config) for v in REFERENCES)
    others: List[List[str]] = [[]]
    used = reference_bytes
    for variant in STEP_VARIANTS:
        if variant in REFERENCES:
            continue
        need = estimated_training_bytes(variant, size, corpus, config)
        if used + need > config.memory_budget_bytes and others[-1]:
            others.append([])
            used = reference_bytes
        others[-1].append(variant)
        used += need
    return [list(REFERENCES) + group for group in others]


def _time_group(
    variants: List[str], size: ModelSize, corpus: SyntheticCorpus, config: Config, with_output_only: bool
) -> Measurement:
    steps: Dict[str, Callable[[], None]] = {}
    batch_size, length = config.batch(size.name)
    for variant in variants:
        model = build_model(variant, size, corpus, config)
        batches = make_batches(variant, corpus, (batch_size, length), NUM_BATCHES, config.device)
        steps[variant] = training_step(model, build_variant_optimizer(variant, model), batches)
    if with_output_only:
        # The model predicts length - 1 targets per sentence and direction.
        targets = batch_size * (length - 1)
        steps[OUTPUT_ONLY] = output_layer_step("continuous", corpus, size.projection_dim, targets, config)
    warmup, repeats = config.repetitions(size.name, min_warmup=NUM_BATCHES)
    measurement = measure_rounds(steps, warmup, repeats, config.device, seed=config.seed)
    del steps
    gc.collect()
    return measurement


def run(config: Config) -> Section:
    started = time.perf_counter()
    section = SECTION.result(describe(__doc__))
    corpus = config.corpus()
    table = Table(
        f"Training step at V={config.vocab_size:,} (median over {config.repeats} rounds)",
        ["size", "batch", "variant", "ms / step", "tokens / s", "time / ELMo-C's [95% CI]", "spread"],
    )
    tokens_per_second: Dict[str, List[float]] = {LABELS[v]: [] for v in STEP_VARIANTS}
    shares: List[Interval] = []
    composition, schedules, errors, rebuilds = [], [], [], []
    for size_name in config.step_sizes:
        size = SIZES[size_name]
        timings = GroupedTimings([])
        for index, group in enumerate(_groups(size, corpus, config)):
            measurement = _time_group(group, size, corpus, config, with_output_only=index == 0)
            timings.groups.append(measurement.timings)
            schedules.append(f"{size_name}, {', '.join(measurement.timings)}: {measurement.describe()}")
        for variant, rate in _add_rows(table, size, timings, config).items():
            tokens_per_second[LABELS[variant]].append(rate)
        shares.append(timings.ratio(OUTPUT_ONLY, "elmo_c"))
        _size_headlines(section, size_name, timings, shares[-1])
        text, size_errors = _composition(size_name, timings)
        composition.append(text)
        errors += size_errors + _impossible_orderings(size_name, timings)
        rebuilds += _rebuilds(size_name, timings)
    add_headline(section, "continuous_output_share_of_elmo_c_step", max(shares, key=lambda share: share.estimate))
    section.tables.append(table)
    section.notes += [
        *errors,
        "`time / ELMo-C's` > 1 means slower than ELMo-C: the geometric mean over rounds of the per-round ratio "
        "of medians, with its 95% bootstrap interval (so are the headline ratios), each from the memory group "
        "that timed both sides.  `spread` = (max - min) / median of the samples.  The rows of ELMo-C and of "
        "the encoder alone are their first group's.",
        "Schedule: " + "; ".join(schedules) + ".",
        *rebuilds,
        "`continuous_output_share_of_elmo_c_step` (no size) is the largest share over the sizes measured.",
        "The intervals cover the rounds of this run, in which every model is built once, in one process.  Two "
        "builds of the same model can differ by several percent on a CPU at the larger sizes (where their "
        "tensors land in memory), which no number of rounds averages out: a second run of the same commit can "
        "land outside the first's interval.  Read a verdict within about 10% of its threshold only once a "
        "second run agrees.",
        "`allennlp_elmo_step_vs_encoder_only_<size>` bounds `elmo_c_vs_allennlp_elmo_step_speedup_<size>`: it is "
        "the speedup over AllenNLP's recipe of our model with no output layer at all.",
        "What the steps are made of (encoder and recipe: medians, ms; the parts: mean over rounds of the paired "
        "difference with the encoder-only step, ms, 95% interval): " + "; ".join(composition) + ".  On a CPU the "
        "flops of the LSTMs dominate at every size, while the sampled softmax costs about the same per target "
        "whatever the encoder, so the speedup over ELMo is bounded by (encoder + softmax) / encoder; the paper's "
        "4.2x was measured on GPUs, where the LSTMs are cheap and the 800K-row softmax and its sparse updates "
        "are not.",
    ]
    section.plots.append(_plot(config.step_sizes, tokens_per_second, config.vocab_size))
    section.seconds = time.perf_counter() - started
    return section


def _add_rows(table: Table, size: ModelSize, timings: GroupedTimings, config: Config) -> Dict[str, float]:
    """A row per variant and one for the output layer alone; returns each variant's tokens/s."""
    batch_size, length = config.batch(size.name)
    batch = f"{batch_size}x{length}"
    rates = {}
    for variant in STEP_VARIANTS:
        timing = timings.of(variant)
        rates[variant] = batch_size * length / timing.median
        table.add(
            f"{size.name} ({size.cell_size}/{size.projection_dim})", batch, LABELS[variant], 1e3 * timing.median,
            rates[variant], "1" if variant == "elmo_c" else timings.ratio(variant, "elmo_c").describe(),
            timing.spread,
        )
    output_only = timings.of(OUTPUT_ONLY)
    table.add(
        size.name, batch, STEP_LABELS[OUTPUT_ONLY], 1e3 * output_only.median, None,
        timings.ratio(OUTPUT_ONLY, "elmo_c").describe(), output_only.spread,
    )
    return rates


def _size_headlines(section: Section, size_name: str, timings: GroupedTimings, share: Interval) -> None:
    add_headline(section, f"elmo_c_step_vs_encoder_only_{size_name}", timings.ratio("elmo_c", "encoder_only"))
    add_headline(section, f"elmo_c_vs_allennlp_elmo_step_speedup_{size_name}", timings.ratio("allennlp_elmo", "elmo_c"))
    # What no output layer can beat: AllenNLP's recipe against our encoder with no output layer at all.
    add_headline(section, f"allennlp_elmo_step_vs_encoder_only_{size_name}",
                 timings.ratio("allennlp_elmo", "encoder_only"))
    for variant in ("elmo", "elmo_a", "elmo_sub"):
        add_headline(section, f"elmo_c_vs_{variant}_step_speedup_{size_name}", timings.ratio(variant, "elmo_c"))
    add_headline(section, f"continuous_output_share_of_elmo_c_step_{size_name}", share)


def _rebuilds(size_name: str, timings: GroupedTimings) -> List[str]:
    """The references' ratio in each group: the same two models built again, in another process state."""
    if len(timings.groups) < 2:
        return []
    ratios = [timing_ratio(group["elmo_c"], group["encoder_only"]).describe() for group in timings.groups]
    return [
        f"Rebuilt references ({size_name}): ELMo-C / encoder alone in each memory group, each built afresh: "
        + ", ".join(ratios) + ".  Intervals that do not overlap measure the per-build effect that one group's "
        "interval cannot show."
    ]


def _impossible_orderings(size_name: str, timings: GroupedTimings) -> List[str]:
    """A note for each step measured faster than a strict part of its own work, beyond its interval."""
    notes = []
    for step, part in STRICT_PARTS:
        interval = timings.ratio(step, part)
        if impossible_ordering(interval):
            notes.append(
                f"**Measurement error** ({size_name}): {STEP_LABELS[step]} took {interval.describe()} times as "
                f"long as {STEP_LABELS[part]}, a strict part of its work; the whole interval below 1 is ruled out "
                "by the work done, so these timings are not a result (rerun on a quiet machine)."
            )
    return notes


def _composition(size_name: str, timings: GroupedTimings) -> Tuple[str, List[str]]:
    """
    The recipe's step split into our encoder-only step and what comes on top, at one
    size; and a measurement-error note for each part whose whole interval is below 0.
    """
    encoder, recipe = timings.of("encoder_only"), timings.of("allennlp_elmo")
    parts = {
        "ELMo-C's output layer": timings.difference("elmo_c", "encoder_only").scaled(1e3),
        "ELMo's sampled softmax": timings.difference("elmo", "encoder_only").scaled(1e3),
    }
    # Its LSTMs over ours: the recipe and ELMo share their sampled softmax (unpaired if timed apart).
    recipe_over_elmo = timings.difference("allennlp_elmo", "elmo").scaled(1e3)
    errors = [
        f"**Measurement error** ({size_name}): {name} measured at {cost.describe(signed=True)} ms, wholly below "
        "0; a part of a step cannot cost less than nothing, so this is noise or bias of the timing, not a result."
        for name, cost in parts.items()
        if impossible_ordering(cost, at_least=0.0)
    ]
    text = (
        f"{size_name}: encoder alone {1e3 * encoder.median:.0f}, "
        + ", ".join(f"{name} {_part(cost)}" for name, cost in parts.items())
        + f", AllenNLP's recipe {1e3 * recipe.median:.0f} ({recipe_over_elmo.describe(signed=True)} for its "
        "encoder over ours" + ("" if timings.paired("allennlp_elmo", "elmo") else ", unpaired: timed in "
                               "different memory groups") + ")"
    )
    return text, errors


def _part(cost: Interval) -> str:
    """A part's cost in ms; a negative one says whether it is noise or a measurement error."""
    text = cost.describe(signed=True)
    if cost.estimate >= 0:
        return text
    if impossible_ordering(cost, at_least=0.0):
        return text + " (a measurement error, see above)"
    if cost.rounds < MIN_ROUNDS:
        return text + f" (negative; {cost.rounds} rounds are too few to tell noise from error)"
    return text + " (negative, but within noise of 0)"


def _plot(sizes: List[str], tokens_per_second: Dict[str, List[float]], vocab_size: int) -> Plot:
    return Plot(
        "training_step_tokens_per_second.png",
        lambda path: plots.bar_chart(
            path, f"Whole training step at V={vocab_size:,}", sizes, tokens_per_second,
            "tokens / s (higher is better)",
        ),
    )


SECTION = Benchmark(
    "training_step",
    "2. Whole training step",
    run,
    headlines=(
        "elmo_c_step_vs_encoder_only_*",
        "elmo_c_vs_allennlp_elmo_step_speedup_*",
        "allennlp_elmo_step_vs_encoder_only_*",
        "elmo_c_vs_*_step_speedup_*",
        "continuous_output_share_of_elmo_c_step_*",
        "continuous_output_share_of_elmo_c_step",
    ),
)


if __name__ == "__main__":
    from benchmarks.suite import main

    main({SECTION.name: SECTION}, description=__doc__)
