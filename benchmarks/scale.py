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

a. memory against corpus size (`loader`, `scale_loader.py`);
b. the data pipeline against the model (`throughput`, `scale_throughput.py`);
c. the target table (`targets`, `scale_targets.py`);
d. the bytes DDP all-reduces per step (`allreduce`, `scale_allreduce.py`).

Each part's module describes its method and holds its measurements; what they share
(settings, the synthetic corpus, a loader's pass, `run_child`) is `scale_common.py`.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

try:
    import bootstrap  # noqa: F401  (run by path: puts the repository first on sys.path)
except ImportError:
    from benchmarks import bootstrap  # noqa: F401

import torch

from benchmarks import scale_allreduce, scale_loader, scale_targets, scale_throughput
from benchmarks.common import machine_description
from benchmarks.report import Benchmark, Section, headline_lines
from benchmarks.scale_common import REPOSITORY, ScaleRun, Settings, make_settings, prepare_corpus

# The parts, in the order they run by default.
REGISTRY: Dict[str, Benchmark] = {
    part.name: part for part in (scale_loader.PART, scale_throughput.PART, scale_targets.PART, scale_allreduce.PART)
}
PARTS = tuple(REGISTRY)


def run_parts(settings: Settings, parts: Tuple[str, ...], log: Callable[[str], None] = print) -> List[Section]:
    """Runs the named parts (see `PARTS`) and returns their sections."""
    sections = []
    directory = tempfile.mkdtemp(prefix="elmo_c_scale_")
    try:
        run = ScaleRun(settings, directory)
        if "loader" in parts or "throughput" in parts:
            scales = (1, 10) if "loader" in parts else (1,)
            run.corpus = prepare_corpus(settings, directory, scales)
        for part in parts:
            if part not in REGISTRY:
                raise ValueError(f"unknown part {part!r}: choose from {', '.join(PARTS)}")
            sections.append(REGISTRY[part].run(run))
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
    lines += ["", "Method: see the docstrings of `benchmarks/scale.py` and of its parts (`benchmarks/scale_*.py`).", ""]
    lines += [section.to_markdown() for section in sections]
    headlines = [line for section in sections for line in headline_lines(section.headlines)]
    lines += ["## Headlines", "", "```", *headlines, "```", "", f"_Total: {seconds:.0f} s._", ""]
    return "\n".join(lines)


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
