"""
3. Trainable parameters of each variant at V = 800K.

What: the parameters with `requires_grad` of every variant of `variants.py`,
counted on the built models (on the CPU, one at a time), split into the output
layer and the rest (character CNN and LSTMs), and the fixed tables each variant
reads but never trains: ELMo-C's target vectors (memory-mapped on the CPU, only
a batch's rows are read) and ELMo-Sub's word-to-pieces table.

How: no timing; `sum(p.numel() for p in model.parameters() if p.requires_grad)`.

    .venv/bin/python benchmarks/parameters.py [--quick]
"""
if not __package__:  # run by path: see bootstrap.py
    import bootstrap  # noqa: F401

import dataclasses
import gc
import time
from typing import Dict, List

import torch

from benchmarks import plots
from benchmarks.common import SIZES, Config, SyntheticCorpus
from benchmarks.report import Benchmark, Plot, Section, Table, describe, ratio
from benchmarks.variants import LABELS, STEP_VARIANTS, build_model, fixed_table_elements, trainable_parameters


def output_module(model: torch.nn.Module) -> torch.nn.Module:
    """The output layer of one of our models, or the softmax of AllenNLP's language model."""
    return model.output_layer if hasattr(model, "output_layer") else model._softmax_loss


def count(variant: str, size_name: str, corpus: SyntheticCorpus, config: Config) -> Dict[str, int]:
    cpu = dataclasses.replace(config, device=torch.device("cpu"))
    model = build_model(variant, SIZES[size_name], corpus, cpu)
    counts = {
        "total": trainable_parameters(model),
        "output": trainable_parameters(output_module(model)),
        "fixed": fixed_table_elements(model),
    }
    del model
    gc.collect()
    return counts


def run(config: Config) -> Section:
    started = time.perf_counter()
    section = SECTION.result(describe(__doc__))
    corpus = config.corpus()
    table = Table(
        f"Trainable parameters at V={config.vocab_size:,}",
        ["size", "variant", "trainable", "of which output layer", "fixed tables (not trained)", "trainable / ELMo's"],
    )
    totals: Dict[str, List[float]] = {LABELS[v]: [] for v in STEP_VARIANTS}
    for size_name in config.parameter_sizes:
        counts = {variant: count(variant, size_name, corpus, config) for variant in STEP_VARIANTS}
        elmo = counts["elmo"]["total"]
        for variant in STEP_VARIANTS:
            numbers = counts[variant]
            table.add(
                size_name, LABELS[variant], numbers["total"], numbers["output"], numbers["fixed"],
                ratio(numbers["total"], elmo),
            )
            totals[LABELS[variant]].append(numbers["total"] / 1e6)
        for other in ("elmo", "allennlp_elmo", "elmo_a", "elmo_sub"):
            section.headlines[f"trainable_params_ratio_elmo_c_over_{other}_{size_name}"] = ratio(
                counts["elmo_c"]["total"], counts[other]["total"]
            )
    largest = config.parameter_sizes[-1]
    section.headlines["trainable_params_ratio_elmo_c_over_elmo"] = section.headlines[
        f"trainable_params_ratio_elmo_c_over_elmo_{largest}"
    ]
    section.tables.append(table)
    section.notes.append(f"`trainable_params_ratio_elmo_c_over_elmo` (no size) is at the largest size, {largest}.")
    section.plots.append(
        Plot(
            "trainable_parameters.png",
            lambda path: plots.bar_chart(
                path, f"Trainable parameters at V={config.vocab_size:,}", config.parameter_sizes, totals,
                "millions (log scale)", log=True,
            ),
        )
    )
    section.seconds = time.perf_counter() - started
    return section


SECTION = Benchmark(
    "parameters",
    "3. Trainable parameters",
    run,
    headlines=(
        "trainable_params_ratio_elmo_c_over_*_*",
        "trainable_params_ratio_elmo_c_over_elmo",
    ),
)


if __name__ == "__main__":
    from benchmarks.suite import main

    main({SECTION.name: SECTION}, description=__doc__)
