"""
Runs sections of the benchmark suite and writes `RESULTS.md` and its plots: the
`main` of `run_all.py` (every section of `registry.SECTIONS`) and of each section
module run by itself (that section only).  Each section prints its tables as it
finishes; at the end come the headline lines (`name = value`, one per line) and the
check of each of the paper's targets (`TARGETS`).  A section that fails becomes a
note in `RESULTS.md`, and the others still report.
"""
import argparse
import os
import sys
import time
import traceback
from typing import Dict, List, Optional, Sequence

import torch

from benchmarks import plots
from benchmarks.common import LOAD_AT_START, Config, machine_description, make_config
from benchmarks.report import Benchmark, Section, format_value, headline_lines

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURES = "figures"

# (what, headline, "<=" or ">=", threshold, the headline of what no output layer can
# beat, or None).  A headline ending in "_*" stands for every size measured.
TARGETS = [
    ("continuous output layer: time at V=800K / at V=10K", "continuous_output_time_ratio_V800000_over_V10000",
     "<=", 1.2, None),
    ("continuous output layer >= 30x faster than the sampled softmax at V=800K",
     "continuous_vs_sampled_output_speedup_V800000", ">=", 30.0, None),
    ("continuous output layer <= 5% of the ELMo-C step (largest share over the sizes)",
     "continuous_output_share_of_elmo_c_step", "<=", 0.05, None),
    ("ELMo-C step <= 1.05x the encoder-only step, at every size", "elmo_c_step_vs_encoder_only_*", "<=", 1.05, None),
    ("ELMo-C >= 4.2x AllenNLP's ELMo recipe on the small CPU-sized encoder",
     "elmo_c_vs_allennlp_elmo_step_speedup_small", ">=", 4.2, "allennlp_elmo_step_vs_encoder_only_small"),
    ("trainable parameters <= 20% of ELMo's", "trainable_params_ratio_elmo_c_over_elmo", "<=", 0.2, None),
    ("peak training memory allocated (GPU: max_memory_allocated) <= 1/6 of ELMo's (ELMo's / ELMo-C's >= 6)",
     "peak_memory_ratio_elmo_over_elmo_c",
     ">=", 6.0, "peak_memory_ratio_elmo_over_encoder_only_*"),
]


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
    os.makedirs(args.output_dir, exist_ok=True)
    plot_files = draw_plots(results, args.output_dir)
    checks = check_targets(headlines) if config.mode != "smoke" else []
    write_results(
        os.path.join(args.output_dir, "RESULTS.md"), results, plot_files, machine, command, config, checks,
        time.perf_counter() - started,
    )
    print("\n".join(headline_lines(headlines)))
    print("\n".join(f"target {status}: {what} ({measured})" for what, measured, status in checks))
    return headlines


def _run_section(section: Benchmark, config: Config) -> Section:
    """One benchmark; a failure becomes a note in RESULTS.md instead of losing the other sections' results."""
    started = time.perf_counter()
    try:
        return section.run(config)
    except Exception as error:  # noqa: BLE001  (any failure: report it, go on with the others)
        traceback.print_exc()
        name = section.name
        failed = Section(name, f"{name}: FAILED", f"This benchmark failed after {time.perf_counter() - started:.0f} s.")
        failed.notes.append(f"`{type(error).__name__}: {error}` (the traceback is on the run's stderr)")
        return failed


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


def check_targets(headlines: Dict[str, float]) -> List[tuple]:
    """(what, measured, met / MISSED / not measured) for each target."""
    checks = []
    for what, name, comparison, threshold, bound in TARGETS:
        measured = _matching(headlines, name)
        if not measured:
            checks.append((what, f"`{name}` not measured in this run", "not measured"))
            continue
        met = all(v <= threshold if comparison == "<=" else v >= threshold for v in measured.values())
        text = f"{_listed(measured)}; target {comparison} {threshold}"
        if bound and _matching(headlines, bound):
            text += f"; with no output layer at all: {_listed(_matching(headlines, bound))}"
        checks.append((what, text, "met" if met else "MISSED"))
    return checks


def _matching(headlines: Dict[str, float], name: str) -> Dict[str, float]:
    if name.endswith("*"):
        return {n: v for n, v in headlines.items() if n.startswith(name[:-1])}
    return {name: headlines[name]} if name in headlines else {}


def _listed(values: Dict[str, float]) -> str:
    return ", ".join(f"`{n} = {format_value(v)}`" for n, v in values.items())


def busy_machine_warning(machine: Dict[str, str]) -> List[str]:
    """A warning for RESULTS.md when other processes kept the CPU busy as the run started."""
    if LOAD_AT_START not in machine:
        return []
    load, cores = float(machine[LOAD_AT_START].split(",")[0]), os.cpu_count() or 1
    if load < 0.5 * cores:
        return []
    return [
        f"**Warning: the load average was {load:.1f} on {cores} cores when this run started: other processes "
        "competed for the CPU, so timings are noisy** (with torch's default of one thread per core, a busy "
        "machine can slow parallel kernels by 10x; `--threads 1` is steadier there).",
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
        "Ratios are measured within one run (variants interleaved, see `benchmarks/timing.py`); absolute times "
        "depend on the machine and its load.",
        "",
        *busy_machine_warning(machine),
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
