"""
Runs sections of the benchmark suite and writes `RESULTS.md` and its plots: the
`main` of `run_all.py` (every section of `registry.SECTIONS`) and of each section
module run by itself (that section only).  Each section prints its tables as it
finishes; at the end come the headline lines (`name = value`, one per line) and the
check of each of the paper's targets (`TARGETS`: met, MISSED, unresolved or
MEASUREMENT ERROR, from the 95% intervals of `intervals.py`), and each section
records how busy the machine was while it ran (`machine_state.py`).  A section that
fails becomes a note in `RESULTS.md`, and the others still report.
"""
import argparse
import math
import os
import sys
import time
import traceback
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch

from benchmarks import intervals, plots
from benchmarks.common import LOAD_AT_START, Config, machine_description, make_config
from benchmarks.intervals import Interval, Verdict
from benchmarks.machine_state import BUSY_LOAD_PER_CORE, MachineState, snapshot
from benchmarks.report import Benchmark, Section, format_value, headline_lines

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURES = "figures"


class Target(NamedTuple):
    """
    One of the paper's targets: `headline <comparison> threshold`.

    # Parameters

    what : `str`
        The target in words.
    headline : `str`
        The headline measured; ending in `_*`, every size measured (each must meet it).
    comparison : `str`
        `"<="` or `">="`.
    threshold : `float`
    bound : `str`, optional
        The headline of what no output layer can beat, shown beside the measurement.
    at_least : `float`, optional
        The least value the work done allows (a step against a strict subset of its
        work: 1); a whole interval below it is a measurement error.
    """

    what: str
    headline: str
    comparison: str
    threshold: float
    bound: Optional[str] = None
    at_least: Optional[float] = None


TARGETS = [
    Target("continuous output layer: time at V=800K / at V=10K", "continuous_output_time_ratio_V800000_over_V10000",
           "<=", 1.2),
    Target("continuous output layer >= 30x faster than the sampled softmax at V=800K",
           "continuous_vs_sampled_output_speedup_V800000", ">=", 30.0),
    Target("continuous output layer <= 5% of the ELMo-C step (largest share over the sizes)",
           "continuous_output_share_of_elmo_c_step", "<=", 0.05),
    Target("ELMo-C step <= 1.05x the encoder-only step, at every size", "elmo_c_step_vs_encoder_only_*", "<=", 1.05,
           at_least=1.0),
    Target("ELMo-C >= 4.2x AllenNLP's ELMo recipe on the small CPU-sized encoder",
           "elmo_c_vs_allennlp_elmo_step_speedup_small", ">=", 4.2, bound="allennlp_elmo_step_vs_encoder_only_small"),
    Target("trainable parameters <= 20% of ELMo's", "trainable_params_ratio_elmo_c_over_elmo", "<=", 0.2),
    Target("peak training memory allocated (GPU: max_memory_allocated) <= 1/6 of ELMo's (ELMo's / ELMo-C's >= 6)",
           "peak_memory_ratio_elmo_over_elmo_c", ">=", 6.0, bound="peak_memory_ratio_elmo_over_encoder_only_*"),
]
# The worst status first: a target's status is the worst over its sizes.
SEVERITY = [intervals.MEASUREMENT_ERROR, intervals.MISSED, intervals.UNRESOLVED, intervals.MET]


def parse_args(argv: Optional[Sequence[str]], names: Sequence[str], description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=description.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--quick", action="store_const", dest="mode", const="quick", help="a few minutes, small sizes")
    modes.add_argument("--smoke", action="store_const", dest="mode", const="smoke", help="seconds: for the tests")
    parser.set_defaults(mode="full")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of: {', '.join(names)}")
    parser.add_argument(
        "--output-dir", default=HERE, help="where RESULTS.md (and figures/*.png) go (default: benchmarks/)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, all cores)")
    parser.add_argument("--memory-budget-gb", type=float, default=None, help="default: 60%% of available memory")
    parser.add_argument("--cache-dir", default=None, help="default: $ELMO_C_BENCH_CACHE or ~/.cache/elmo_c/benchmarks")
    return parser.parse_args(argv)


def main(
    sections: Dict[str, Benchmark],
    argv: Optional[Sequence[str]] = None,
    only: Optional[List[str]] = None,
    description: str = __doc__,
) -> Dict[str, float]:
    """
    Runs the benchmarks of `sections` (those of `only` or `--only`, else all, in
    order), writes RESULTS.md and the plots, prints the headlines; returns them.
    `description` is the command's (its first paragraph is `--help`'s).
    """
    args = parse_args(argv, list(sections), description)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = only or (args.only.split(",") if args.only else list(sections))
    unknown = [name for name in names if name not in sections]
    if unknown:
        raise SystemExit(f"unknown benchmarks {unknown}: choose among {list(sections)}")
    config = make_config(args.mode, args.device, args.cache_dir, args.memory_budget_gb)
    if not plots.available():
        print("[benchmarks] matplotlib is missing, so this run draws no plots: `bash scripts/install.sh "
              "--benchmarks` installs it", file=sys.stderr, flush=True)
    machine = machine_description(config.device)
    command = " ".join(["benchmarks/run_all.py", *(argv if argv is not None else sys.argv[1:])])
    started = time.perf_counter()
    results = []
    for name in names:
        print(f"[benchmarks] {name} ({args.mode}) ...", file=sys.stderr, flush=True)
        result = _run_section(sections[name], config)
        results.append(result)
        print("\n".join(table.to_markdown() + "\n" for table in result.tables), flush=True)
    headlines = {name: value for result in results for name, value in result.headlines.items()}
    measured_intervals = {name: value for result in results for name, value in result.intervals.items()}
    os.makedirs(args.output_dir, exist_ok=True)
    plot_files = draw_plots(results, args.output_dir)
    checks = check_targets(headlines, measured_intervals) if config.mode != "smoke" else []
    write_results(
        os.path.join(args.output_dir, "RESULTS.md"), results, plot_files, machine, command, config, checks,
        time.perf_counter() - started,
    )
    print("\n".join(headline_lines(headlines)))
    print("\n".join(f"target {status}: {what} ({measured})" for what, measured, status in checks))
    return headlines


def _run_section(section: Benchmark, config: Config) -> Section:
    """
    One benchmark, with the state of the machine while it ran; a failure becomes a
    note in RESULTS.md instead of losing the other sections' results.
    """
    started, before = time.perf_counter(), snapshot()
    try:
        result = section.run(config)
    except Exception as error:  # noqa: BLE001  (any failure: report it, go on with the others)
        traceback.print_exc()
        name = section.name
        result = Section(name, f"{name}: FAILED", f"This benchmark failed after {time.perf_counter() - started:.0f} s.")
        result.notes.append(f"`{type(error).__name__}: {error}` (the traceback is on the run's stderr)")
    result.machine_state = MachineState.between(before, snapshot())
    return result


def draw_plots(sections: List[Section], output_dir: str) -> Dict[str, List[str]]:
    """Each section's PNGs in `output_dir/figures/` (none without matplotlib); their paths relative to `output_dir`."""
    if not plots.available():
        return {}
    os.makedirs(os.path.join(output_dir, FIGURES), exist_ok=True)
    files: Dict[str, List[str]] = {}
    for section in sections:
        for plot in section.plots:
            relative = os.path.join(FIGURES, plot.filename)
            plot.draw(os.path.join(output_dir, relative))
            files.setdefault(section.key, []).append(relative)
    return files


def check_targets(headlines: Dict[str, float], measured: Optional[Dict[str, Interval]] = None) -> List[tuple]:
    """
    (what, measured, status) for each target of `TARGETS`.  A headline with an
    interval in `measured` gets `intervals.verdict` (met, MISSED, unresolved with
    the rounds that would resolve it, or MEASUREMENT ERROR); one without (counts:
    parameters, bytes) is compared as it is (met or MISSED).  Unmeasured: "not measured".
    """
    measured = measured or {}
    checks = []
    for target in TARGETS:
        values = _matching(headlines, target.headline)
        if not values:
            checks.append((target.what, f"`{target.headline}` not measured in this run", "not measured"))
            continue
        verdicts = [_verdict(target, value, measured.get(name)) for name, value in values.items()]
        text = f"{_listed(values, measured)}; target {target.comparison} {target.threshold}"
        if target.bound and _matching(headlines, target.bound):
            text += f"; with no output layer at all: {_listed(_matching(headlines, target.bound), measured)}"
        checks.append((target.what, text, str(_worst(verdicts))))
    return checks


def _verdict(target: Target, value: float, interval: Optional[Interval]) -> Verdict:
    if interval is not None:
        return intervals.verdict(interval, target.comparison, target.threshold, target.at_least)
    met = value <= target.threshold if target.comparison == "<=" else value >= target.threshold
    return Verdict(intervals.MET if met else intervals.MISSED)


def _worst(verdicts: List[Verdict]) -> Verdict:
    """The worst status over the sizes; of unresolved ones, the one needing the most rounds (unresolvable: most)."""

    def badness(verdict: Verdict) -> tuple:
        rounds = verdict.rounds_needed if verdict.rounds_needed is not None else math.inf
        return SEVERITY.index(verdict.status), -rounds

    return min(verdicts, key=badness)


def _matching(headlines: Dict[str, float], name: str) -> Dict[str, float]:
    """The headline `name`, or those it stands for when it ends in `*`; never the interval bounds."""
    if name.endswith("*"):
        return {n: v for n, v in headlines.items() if n.startswith(name[:-1]) and not intervals.is_companion(n)}
    return {name: headlines[name]} if name in headlines else {}


def _listed(values: Dict[str, float], measured: Dict[str, Interval]) -> str:
    def one(name: str, value: float) -> str:
        interval = measured.get(name)
        if interval is None:
            return f"`{name} = {format_value(value)}`"
        return f"`{name} = {format_value(value)}` (95% CI {interval.bounds()})"

    return ", ".join(one(name, value) for name, value in values.items())


def busy_machine_warning(machine: Dict[str, str], sections: Sequence[Section] = ()) -> List[str]:
    """
    A warning for RESULTS.md when other processes kept the CPU busy: a load average
    over `BUSY_LOAD_PER_CORE` x cores as the run started (before any benchmark ran), or
    a benchmark during which the machine was busy (`MachineState.busy_reasons`).
    """
    cores = os.cpu_count() or 1
    reasons = []
    if LOAD_AT_START in machine:
        loads = [float(value) for value in machine[LOAD_AT_START].split(",")]
        if max(loads) > BUSY_LOAD_PER_CORE * cores:
            reasons.append(
                f"the load average (1, 5, 15 min) was {', '.join(f'{load:.1f}' for load in loads)} on {cores} cores "
                "when this run started"
            )
    for section in sections:
        busy = section.machine_state.busy_reasons() if section.machine_state else []
        if busy:
            reasons.append(f"during {section.key}: {'; '.join(busy)}")
    if not reasons:
        return []
    return [
        f"**Warning: other processes competed for the CPU, so timings are noisy ({'; '.join(reasons)}).**  "
        "With torch's default of one thread per core, a busy machine can slow parallel kernels by 10x; "
        "`--threads 1` is steadier there.  The intervals widen with that noise.",
        "",
    ]


def write_results(
    path: str,
    sections: List[Section],
    plot_files: Dict[str, List[str]],
    machine: Dict[str, str],
    command: str,
    config: Config,
    checks: List[tuple],
    seconds: float,
) -> None:
    lines = [
        "# elmo_c benchmarks",
        "",
        f"Generated by `.venv/bin/python {command}` (mode **{config.mode}**, {seconds / 60:.1f} minutes).  "
        "Regenerate everything with `.venv/bin/python benchmarks/run_all.py [--quick] [--device cpu|cuda]`.",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in machine.items()),
        "",
        "Ratios are measured within one run (variants interleaved, each round in a random order, see "
        "`benchmarks/timing.py`); absolute times depend on the machine and its load.  A ratio headline comes with "
        "its 95% confidence interval (`<name>_ci_low`, `<name>_ci_high`: bootstrap over rounds, see "
        "`benchmarks/intervals.py`), and a target is *met* only when its whole interval is on the right side of "
        "the threshold, *MISSED* when it is wholly on the wrong side, *unresolved* otherwise (with about how many "
        "rounds would resolve it), and a *MEASUREMENT ERROR* when it is one the work done rules out.",
        "",
        *busy_machine_warning(machine, sections),
        "## Targets",
        "",
        "| target | measured | status |",
        "|---|---|---|",
        *(f"| {what} | {measured} | {status} |" for what, measured, status in checks),
        "",
        "## Headlines",
        "",
        "```",
        *headline_lines({n: v for section in sections for n, v in section.headlines.items()}),
        "```",
        "",
    ]
    if not plots.available():
        lines += ["(No plots: matplotlib is missing; `bash scripts/install.sh --benchmarks` installs it.)", ""]
    lines += [section.to_markdown(plot_files.get(section.key, [])) for section in sections]
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("\n".join(lines))
