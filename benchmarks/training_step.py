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

How: per encoder size, the variants are built and timed together with
`timing.measure` (warm-up steps, at least one per batch so that every row of
ELMo-C's memory-mapped table the batches need has been read once, as in a long
run; interleaved repeats; median), in as few groups
as the memory budget allows (16 bytes per parameter; ELMo-C, the encoder alone and
the continuous layer alone always share the first group).  tokens/s = tokens per
batch / median step time.

    .venv/bin/python benchmarks/training_step.py [--quick] [--device cpu|cuda]
"""
if not __package__:  # run by path: see bootstrap.py
    import bootstrap  # noqa: F401

import gc
import time
from typing import Callable, Dict, List

from benchmarks import plots
from benchmarks.common import SIZES, Config, ModelSize, SyntheticCorpus
from benchmarks.report import Benchmark, Plot, Section, Table, describe, ratio
from benchmarks.timing import Timing, measure
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
FIRST_GROUP = ("encoder_only", "elmo_c")
NUM_BATCHES = 2


def _groups(size: ModelSize, corpus: SyntheticCorpus, config: Config) -> List[List[str]]:
    """The variants in groups that fit in the memory budget together, ELMo-C's group first."""
    groups: List[List[str]] = [list(FIRST_GROUP)]
    used = sum(estimated_training_bytes(v, size, corpus, config) for v in FIRST_GROUP)
    for variant in STEP_VARIANTS:
        if variant in FIRST_GROUP:
            continue
        need = estimated_training_bytes(variant, size, corpus, config)
        if used + need > config.memory_budget_bytes and groups[-1]:
            groups.append([])
            used = 0.0
        groups[-1].append(variant)
        used += need
    return groups


def _time_group(
    variants: List[str], size: ModelSize, corpus: SyntheticCorpus, config: Config, with_output_only: bool
) -> Dict[str, Timing]:
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
    timings = measure(steps, warmup, repeats, config.device)
    del steps
    gc.collect()
    return timings


def run(config: Config) -> Section:
    started = time.perf_counter()
    section = SECTION.result(describe(__doc__))
    corpus = config.corpus()
    table = Table(
        f"Training step at V={config.vocab_size:,} (median over {config.repeats} rounds)",
        ["size", "batch", "variant", "ms / step", "tokens / s", "time / ELMo-C's", "spread"],
    )
    tokens_per_second: Dict[str, List[float]] = {LABELS[v]: [] for v in STEP_VARIANTS}
    shares, composition = [], []
    for size_name in config.step_sizes:
        size = SIZES[size_name]
        timings: Dict[str, Timing] = {}
        for index, group in enumerate(_groups(size, corpus, config)):
            timings.update(_time_group(group, size, corpus, config, with_output_only=index == 0))
        for variant, rate in _add_rows(table, size, timings, config).items():
            tokens_per_second[LABELS[variant]].append(rate)
        shares.append(ratio(timings[OUTPUT_ONLY].median, timings["elmo_c"].median))
        _size_headlines(section, size_name, timings, shares[-1])
        composition.append(_composition(size_name, timings))
    section.headlines["continuous_output_share_of_elmo_c_step"] = max(shares)
    section.tables.append(table)
    section.notes += [
        "`time / ELMo-C's` > 1 means slower than ELMo-C.  `spread` = (max - min) / median of the samples.",
        "`continuous_output_share_of_elmo_c_step` (no size) is the largest share over the sizes measured.",
        "`allennlp_elmo_step_vs_encoder_only_<size>` bounds `elmo_c_vs_allennlp_elmo_step_speedup_<size>`: it is "
        "the speedup over AllenNLP's recipe of our model with no output layer at all.",
        "What the steps are made of (medians, ms): " + "; ".join(composition) + ".  On a CPU the flops of the "
        "LSTMs dominate at every size, while the sampled softmax costs about the same per target whatever the "
        "encoder, so the speedup over ELMo is bounded by (encoder + softmax) / encoder; the paper's 4.2x was "
        "measured on GPUs, where the LSTMs are cheap and the 800K-row softmax and its sparse updates are not.",
    ]
    section.plots.append(_plot(config.step_sizes, tokens_per_second, config.vocab_size))
    section.seconds = time.perf_counter() - started
    return section


def _add_rows(table: Table, size: ModelSize, timings: Dict[str, Timing], config: Config) -> Dict[str, float]:
    """A row per variant and one for the output layer alone; returns each variant's tokens/s."""
    batch_size, length = config.batch(size.name)
    batch, elmo_c = f"{batch_size}x{length}", timings["elmo_c"].median
    rates = {}
    for variant in STEP_VARIANTS:
        timing = timings[variant]
        rates[variant] = batch_size * length / timing.median
        table.add(
            f"{size.name} ({size.cell_size}/{size.projection_dim})", batch, LABELS[variant], 1e3 * timing.median,
            rates[variant], ratio(timing.median, elmo_c), timing.spread,
        )
    output_only = timings[OUTPUT_ONLY]
    table.add(
        size.name, batch, "continuous output layer alone", 1e3 * output_only.median, None,
        ratio(output_only.median, elmo_c), output_only.spread,
    )
    return rates


def _size_headlines(section: Section, size_name: str, timings: Dict[str, Timing], share: float) -> None:
    elmo_c = timings["elmo_c"].median
    headlines = section.headlines
    headlines[f"elmo_c_step_vs_encoder_only_{size_name}"] = ratio(elmo_c, timings["encoder_only"].median)
    headlines[f"elmo_c_vs_allennlp_elmo_step_speedup_{size_name}"] = ratio(timings["allennlp_elmo"].median, elmo_c)
    # What no output layer can beat: AllenNLP's recipe against our encoder with no output layer at all.
    headlines[f"allennlp_elmo_step_vs_encoder_only_{size_name}"] = ratio(
        timings["allennlp_elmo"].median, timings["encoder_only"].median
    )
    for variant in ("elmo", "elmo_a", "elmo_sub"):
        headlines[f"elmo_c_vs_{variant}_step_speedup_{size_name}"] = ratio(timings[variant].median, elmo_c)
    headlines[f"continuous_output_share_of_elmo_c_step_{size_name}"] = share


def _composition(size_name: str, timings: Dict[str, Timing]) -> str:
    """The recipe's step split into our encoder-only step and what comes on top, at one size."""
    encoder, recipe = 1e3 * timings["encoder_only"].median, 1e3 * timings["allennlp_elmo"].median
    softmax = 1e3 * timings["elmo"].median - encoder
    continuous = 1e3 * timings["elmo_c"].median - encoder
    return (
        f"{size_name}: encoder alone {encoder:.0f}, ELMo-C's output layer {continuous:+.0f}, ELMo's sampled "
        f"softmax {softmax:+.0f}, AllenNLP's recipe {recipe:.0f} ({recipe - encoder - softmax:+.0f} for its "
        "encoder over ours)"
    )


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
