"""
PNG plots of the benchmark tables, with matplotlib (optional: `requirements/benchmarks.txt`).
Without it the benchmarks still run and RESULTS.md says that plots were skipped.
"""
from typing import Dict, List, Sequence


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def line_chart(
    path: str,
    title: str,
    x: Sequence[float],
    series: Dict[str, List[float]],
    xlabel: str,
    ylabel: str,
    log: bool = True,
) -> None:
    """One line per series (NaN points are left out), log-log by default."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(6.4, 4.2))
    for name, values in series.items():
        points = [(a, b) for a, b in zip(x, values) if b == b]
        if points:
            axes.plot(*zip(*points), marker="o", label=name)
    if log:
        axes.set_xscale("log")
        axes.set_yscale("log")
    _finish(pyplot, figure, axes, path, title, xlabel, ylabel)


def bar_chart(
    path: str,
    title: str,
    groups: Sequence[str],
    series: Dict[str, List[float]],
    ylabel: str,
    log: bool = False,
) -> None:
    """Grouped bars: one group per entry of `groups`, one bar per series."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(max(6.4, 1.6 * len(groups) * max(1, len(series)) / 3), 4.2))
    width = 0.8 / max(1, len(series))
    for index, (name, values) in enumerate(series.items()):
        positions = [group + (index - (len(series) - 1) / 2) * width for group in range(len(groups))]
        axes.bar(positions, [value if value == value else 0.0 for value in values], width, label=name)
    axes.set_xticks(range(len(groups)))
    axes.set_xticklabels(groups)
    if log:
        axes.set_yscale("log")
    _finish(pyplot, figure, axes, path, title, "", ylabel)


def _finish(pyplot, figure, axes, path: str, title: str, xlabel: str, ylabel: str) -> None:
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.savefig(path, dpi=110, bbox_inches="tight")
    pyplot.close(figure)
