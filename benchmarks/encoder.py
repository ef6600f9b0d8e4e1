"""
5. The biLM encoder: our fused LSTM vs AllenNLP's `ElmoLstm`.

What: forward + backward of the two-layer bidirectional LSTM with projection and
residual connection alone, at the same sizes: `elmo_c`'s `BidirectionalLmEncoder`
(each layer a fused `torch.nn.LSTM(proj_size=...)`: cuDNN on a GPU, ATen's LSTM
on a CPU) against `allennlp.modules.elmo_lstm.ElmoLstm` (`LstmCellWithProjection`,
one Python-level step per time step), both without clipping (our configs' default),
plus our encoder with ELMo's clipping (cell and projection clip 3), which runs step
by step like AllenNLP's.  Inputs are random `(batch, 20, projection_dim)` states
requiring grad (the character CNN's output in training), no padding; the loss is
the sum of the top layer.

How: `timing.measure` (warm-up steps, interleaved rounds in a random order,
median), all encoders of a size in one measurement; the speedup is paired by round,
with its 95% bootstrap interval (`intervals.py`).

    .venv/bin/python benchmarks/encoder.py [--quick] [--device cpu|cuda]
"""
if not __package__:  # run by path: see bootstrap.py
    import bootstrap  # noqa: F401

import time
from typing import Callable, Dict, List

import torch
from allennlp.modules.elmo_lstm import ElmoLstm

from benchmarks import plots
from benchmarks.common import SIZES, Config, ModelSize
from benchmarks.intervals import add_headline, timing_ratio
from benchmarks.report import Benchmark, Plot, Section, Table, describe, ratio
from benchmarks.timing import measure
from elmo_c.modules.bilm_encoder import BidirectionalLmEncoder

ENCODERS = ("fused", "clipped", "elmo_lstm")
LABELS = {
    "fused": "elmo_c BidirectionalLmEncoder (fused)",
    "clipped": "elmo_c BidirectionalLmEncoder, clip 3 (step by step)",
    "elmo_lstm": "AllenNLP ElmoLstm",
}


def build_encoder(name: str, size: ModelSize) -> torch.nn.Module:
    dim, cells = size.projection_dim, size.cell_size
    if name == "elmo_lstm":
        return ElmoLstm(dim, dim, cells, 2, requires_grad=True)
    clip = 3.0 if name == "clipped" else None
    return BidirectionalLmEncoder(dim, 2, cells, dim, dropout=0.1, cell_clip=clip, projection_clip=clip)


def encoder_step(name: str, size: ModelSize, shape, device: torch.device, seed: int) -> Callable[[], None]:
    """Forward and backward of one encoder on random inputs (seeded: two runs time the same weights)."""
    torch.manual_seed(seed)
    encoder = build_encoder(name, size).to(device).train()
    batch_size, length = shape
    inputs = torch.randn(batch_size, length, size.projection_dim, device=device, requires_grad=True)
    mask = torch.ones(batch_size, length, dtype=torch.bool, device=device)

    def step() -> None:
        encoder.zero_grad(set_to_none=True)
        inputs.grad = None
        encoder(inputs, mask)[-1].sum().backward()

    return step


def run(config: Config) -> Section:
    started = time.perf_counter()
    section = SECTION.result(describe(__doc__))
    table = Table(
        "Encoder forward + backward, ms (median)", ["size", "batch", "encoder", "ms / step", "time / fused's", "spread"]
    )
    series: Dict[str, List[float]] = {LABELS[name]: [] for name in ENCODERS}
    for size_name in config.encoder_sizes:
        size, shape = SIZES[size_name], config.batch(size_name)
        steps = {name: encoder_step(name, size, shape, config.device, config.seed) for name in ENCODERS}
        timings = measure(steps, *config.repetitions(size_name), config.device)
        for name in ENCODERS:
            timing = timings[name]
            table.add(
                f"{size_name} ({size.cell_size}/{size.projection_dim})", f"{shape[0]}x{shape[1]}", LABELS[name],
                1e3 * timing.median, ratio(timing.median, timings["fused"].median), timing.spread,
            )
            series[LABELS[name]].append(1e3 * timing.median)
        speedup = timing_ratio(timings["elmo_lstm"], timings["fused"])
        add_headline(section, f"fused_lstm_vs_elmo_lstm_speedup_{size_name}", speedup)
    section.tables.append(table)
    section.plots.append(
        Plot(
            "encoder_fused_vs_elmo_lstm.png",
            lambda path: plots.bar_chart(
                path, "biLM encoder forward + backward", config.encoder_sizes, series, "ms (log scale)", log=True
            ),
        )
    )
    section.seconds = time.perf_counter() - started
    return section


SECTION = Benchmark(
    "encoder",
    "5. Encoder: fused LSTM vs AllenNLP's ElmoLstm",
    run,
    headlines=(
        "fused_lstm_vs_elmo_lstm_speedup_*",
    ),
)


if __name__ == "__main__":
    from benchmarks.suite import main

    main({SECTION.name: SECTION}, description=__doc__)
