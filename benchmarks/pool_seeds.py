"""
Pools `benchmarks/quality.py` runs that differ only in the pretraining seed.

Each run directory's `summary.json` holds one pretraining seed's cells (variant ->
task -> tagger seed -> score).  One pretraining seed cannot rank variants a point
apart (on the larger corpus the seed moved a cell's mean by up to 2.6 F1), so this
pools every run and pairs each variant with a reference on the same pretraining run
and the same tagger seed.  Two paired tests:

- over runs: every (pretraining run, tagger seed) pair both variants have;
- over pretraining seeds: each run's mean difference is one value (the unit that the
  pretraining seed varies; with 2 or 3 seeds a weak but honest test).

    python benchmarks/pool_seeds.py runs/quality/large2000000 runs/quality/large2000000_s14 \
        runs/quality/large2000000_s15 --against elmo_c,elmo --results pooled.md
"""
import argparse
import json
import math
import os
import sys
from typing import Dict, List, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from allennlp.common.checks import ConfigurationError  # noqa: E402

from benchmarks.quality import mean_and_sd, paired_difference  # noqa: E402

# variant -> task -> (run, tagger seed) -> score
Pooled = Dict[str, Dict[str, Dict[Tuple[str, str], float]]]


def read_runs(run_dirs: List[str]) -> Dict[str, Dict]:
    """Each run directory's `summary.json`, by directory name (which must differ)."""
    summaries = {}
    for run_dir in run_dirs:
        path = os.path.join(run_dir, "summary.json")
        if not os.path.isfile(path):
            raise ConfigurationError(f"{path} does not exist: pass directories that benchmarks/quality.py "
                                     f"wrote (its --output), with at least one finished cell")
        name = os.path.basename(os.path.normpath(run_dir))
        if name in summaries:
            raise ConfigurationError(f"two run directories are named {name}: rename one so the runs stay apart")
        with open(path, encoding="utf-8") as summary:
            summaries[name] = json.load(summary)
    return summaries


def pool(summaries: Dict[str, Dict]) -> Pooled:
    """Every score of every run, keyed by (run, tagger seed)."""
    pooled: Pooled = {}
    for run, rows in summaries.items():
        for variant, row in rows.items():
            for task, scores in row.get("scores", {}).items():
                cells = pooled.setdefault(variant, {}).setdefault(task, {})
                cells.update({(run, str(seed)): float(score) for seed, score in scores.items()})
    return pooled


def run_means(cells: Dict[Tuple[str, str], float]) -> Dict[str, float]:
    """The mean over tagger seeds of each pretraining run."""
    by_run: Dict[str, List[float]] = {}
    for (run, _), score in cells.items():
        by_run.setdefault(run, []).append(score)
    return {run: mean_and_sd(scores)[0] for run, scores in by_run.items()}


def compare(first: Dict[Tuple[str, str], float], second: Dict[Tuple[str, str], float]) -> Dict[str, Dict]:
    """Paired `first - second` over runs and over pretraining seeds (only the pairs both have)."""
    shared = set(first) & set(second)
    over_runs = paired_difference({k: first[k] for k in shared}, {k: second[k] for k in shared})
    over_seeds = paired_difference(run_means({k: first[k] for k in shared}),
                                   run_means({k: second[k] for k in shared}))
    for difference in (over_runs, over_seeds):
        difference["t"] = _t(difference)
    return {"runs": over_runs, "seeds": over_seeds}


def _t(difference: Dict[str, float]) -> float:
    if difference["n"] < 2 or not difference["sd"] > 0:
        return float("nan")
    return difference["mean"] / (difference["sd"] / math.sqrt(difference["n"]))


def report(pooled: Pooled, runs: List[str], references: List[str]) -> str:
    lines = [f"Pooled over the pretraining runs {', '.join(runs)}; paired on the same run and tagger seed.", ""]
    for task in sorted({task for tasks in pooled.values() for task in tasks}):
        lines += [f"## {task}", "", "| variant | run means | pooled mean +- sd (n) | "
                  + " | ".join(f"minus {r}: over runs (t, p) | over pretraining seeds (t, p)" for r in references)
                  + " |", "|---|---|---|" + "---|---|" * len(references)]
        for variant, tasks in pooled.items():
            if task not in tasks:
                continue
            cells = tasks[task]
            means = run_means(cells)
            mean, sd = mean_and_sd(list(cells.values()))
            row = [variant, " / ".join(f"{means[run]:.3f}" if run in means else "-" for run in runs),
                   f"{mean:.4f} +- {sd:.4f} ({len(cells)})"]
            for reference in references:
                if reference == variant or task not in pooled.get(reference, {}):
                    row += ["", ""]
                    continue
                difference = compare(cells, pooled[reference][task])
                row += [_difference(difference["runs"]), _difference(difference["seeds"])]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def _difference(difference: Dict[str, float]) -> str:
    if difference["n"] == 0:
        return "-"
    if difference["n"] == 1:
        return f"{difference['mean']:+.4f} (n 1)"
    return (f"{difference['mean']:+.4f} +- {difference['sd']:.4f} (n {difference['n']}, "
            f"t {difference['t']:.2f}, p {difference['p']:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", help="benchmarks/quality.py output directories, one per pretraining seed")
    parser.add_argument("--against", default="elmo_c,elmo", help="comma-separated reference variants")
    parser.add_argument("--results", default=None, help="also write the report to this file")
    args = parser.parse_args()
    summaries = read_runs(args.run_dirs)
    text = report(pool(summaries), list(summaries), [r for r in args.against.split(",") if r])
    print(text)
    if args.results:
        with open(args.results, "w", encoding="utf-8") as results:
            results.write(text)


if __name__ == "__main__":
    main()
