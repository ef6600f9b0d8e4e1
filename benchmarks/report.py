"""
What every benchmark is (a `Benchmark`: the entry of a registry of sections), what
it returns (a `Section`: tables, headline numbers, notes and plot data) and how it
is printed: tables as Markdown (the same text goes to the terminal and to
`RESULTS.md`), headlines one per line as `name = value`, a fixed form that scripts
can grep (`HEADLINE_PATTERN`).
"""
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HEADLINE_PATTERN = re.compile(r"^[a-z][A-Za-z0-9_]* = (-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?|nan|-?inf)$")


@dataclass
class Table:
    """A Markdown table: a title, column names and rows of values (formatted on output)."""

    title: str
    columns: List[str]
    rows: List[List[Any]] = field(default_factory=list)

    def add(self, *values: Any) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"{self.title}: {len(values)} values for columns {self.columns}")
        self.rows.append(list(values))

    def column(self, name: str) -> List[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def to_markdown(self) -> str:
        lines = [f"**{self.title}**", "", _markdown_row(self.columns)]
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines.extend(_markdown_row(format_cell(value) for value in row) for row in self.rows)
        return "\n".join(lines)


def _markdown_row(cells) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


@dataclass
class Plot:
    """Data for one PNG, drawn by `benchmarks.plots` with `draw(path)` (matplotlib is optional)."""

    filename: str
    draw: Callable[[str], None]


@dataclass
class Section:
    """The result of one benchmark."""

    key: str
    title: str
    description: str
    tables: List[Table] = field(default_factory=list)
    headlines: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    plots: List[Plot] = field(default_factory=list)
    seconds: float = 0.0
    # The 95% intervals of headlines that have them (`intervals.add_headline`), by headline.
    # benchmarks.intervals.Interval and .machine_state.MachineState (both import this module).
    intervals: Dict[str, Any] = field(default_factory=dict)
    machine_state: Optional[Any] = None

    def to_markdown(self, plot_files: Sequence[str] = ()) -> str:
        parts = [f"## {self.title}", "", self.description.strip(), ""]
        for table in self.tables:
            parts += [table.to_markdown(), ""]
        if self.headlines:
            parts += ["```", *headline_lines(self.headlines), "```", ""]
        parts += [f"- {note}" for note in self.notes]
        if self.notes:
            parts.append("")
        parts += [f"![{name}]({name})" for name in plot_files]
        if plot_files:
            parts.append("")
        parts.append(f"_This benchmark took {self.seconds:.0f} s._")
        if self.machine_state is not None:
            parts += ["", f"_Machine during this benchmark: {self.machine_state.describe()}._"]
        return "\n".join(parts) + "\n"


@dataclass(frozen=True)
class Benchmark:
    """
    One section of a suite, as its registry lists it (`registry.SECTIONS` for
    `run_all.py`, `scale.REGISTRY` for `scale.py`): `name` selects it (`--only`,
    `--parts`), `title` heads its part of the results, `run` measures (the run's
    settings, a `common.Config` or a `scale_common.ScaleRun`, to a `Section`), and
    `headlines` names what it reports (`*` stands for a size: one per size measured).
    """

    name: str
    title: str
    run: Callable[[Any], "Section"]
    headlines: Tuple[str, ...] = ()

    def result(self, description: str, **fields: Any) -> "Section":
        """An empty `Section` of this benchmark, for `run` to fill."""
        return Section(self.name, self.title, description, **fields)


def describe(docstring: str) -> str:
    """A benchmark module's docstring for RESULTS.md: without its title paragraph and its command line."""
    body = docstring.strip().split("\n\n", 1)[-1]
    return body.split("\n\n    .venv")[0].strip()


def format_value(value: Optional[float]) -> str:
    """About three significant digits, never in exponent notation for ordinary sizes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def format_cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return format_value(value)
    return str(value)


def headline_lines(headlines: Dict[str, float]) -> List[str]:
    """`name = value`, one per headline, in insertion order."""
    return [f"{name} = {format_value(value)}" for name, value in headlines.items()]


def ratio(numerator: Optional[float], denominator: Optional[float]) -> float:
    """numerator / denominator, nan when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return float("nan")
    return numerator / denominator
