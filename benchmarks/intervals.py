"""
95% confidence intervals for the suite's timing ratios and differences, and the
verdict of a target from an interval.

A round is the unit: within one round every step of a measurement ran once in
its slot (`benchmarks.timing`), in the same stretch of time, so a round's value of
a step is the median of its calls in that round, and two steps of the same
measurement are compared round by round (paired).  The ratio of two steps is the
geometric mean over rounds of their per-round ratios (the mean of the log ratios:
it treats "twice as fast" and "twice as slow" alike, and the ratio and its inverse
get intervals that are inverses of each other); a difference is the mean over
rounds of the per-round differences.  The interval is the percentile bootstrap:
rounds are resampled with replacement `BOOTSTRAP_RESAMPLES` times (a fixed seed,
so the same samples always give the same interval) and the 2.5th and 97.5th
percentiles of the statistic are kept.  Steps timed in different measurements
(different memory groups) cannot be paired: their rounds are then resampled
independently.

Verdict of a target such as `ratio <= 1.05`: **met** only if the whole interval is
on the right side of the threshold, **missed** if it is wholly on the wrong side,
**unresolved** otherwise, and unresolved too below `MIN_ROUNDS` rounds (a
percentile interval from 3 numbers is not an interval).  A measured value that the
work done rules out (a step that does strictly more than another measured faster
than it: the whole interval of their ratio below 1) is a **measurement error**,
never a result.

The interval is over the rounds of one run: what changes from round to round.  What
stays fixed for a run (each model built once, in one process, its tensors where they
landed in memory) is not in it, and can move a ratio by several percent between two
runs at the larger sizes on a CPU (`training_step.py` says so in its notes).

Rounds that would resolve an unresolved target: the half of the interval that
straddles the threshold (from the estimate towards the threshold) shrinks as
`1 / sqrt(rounds)` for a mean, with the round-to-round noise and the estimate kept
as measured, so it clears the threshold after about
`rounds * (half-width / distance from the estimate to the threshold) ** 2` rounds.
A planning figure, not a promise.  Beyond `MAX_USEFUL_ROUNDS` (or with the
estimate on the threshold) the target is called not resolvable: the estimate is
within noise of the threshold, and no affordable run would settle it.
"""
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy

from benchmarks.report import Section, format_value
from benchmarks.timing import Timing

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
MIN_ROUNDS = 5
MAX_USEFUL_ROUNDS = 100
CI_LOW_SUFFIX, CI_HIGH_SUFFIX = "_ci_low", "_ci_high"

MET, MISSED, UNRESOLVED, MEASUREMENT_ERROR = "met", "MISSED", "unresolved", "MEASUREMENT ERROR"


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% confidence interval, from `rounds` rounds (the fewer, if not paired)."""

    estimate: float
    low: float
    high: float
    rounds: int

    def scaled(self, factor: float) -> "Interval":
        """In other units (a positive `factor`: seconds to milliseconds)."""
        return Interval(factor * self.estimate, factor * self.low, factor * self.high, self.rounds)

    def describe(self, signed: bool = False) -> str:
        """`1.03 [0.98, 1.08]`; `signed` writes differences as `+12 [+8, +15]`."""
        return f"{_formatted(self.estimate, signed)} {self.bounds(signed)}"

    def bounds(self, signed: bool = False) -> str:
        """`[0.98, 1.08]`."""
        return f"[{_formatted(self.low, signed)}, {_formatted(self.high, signed)}]"


def _formatted(value: float, signed: bool) -> str:
    text = format_value(value)
    return "+" + text if signed and not text.startswith("-") else text


@dataclass(frozen=True)
class Verdict:
    """
    A target's status: `MET`, `MISSED`, `UNRESOLVED` or `MEASUREMENT_ERROR`, and why.

    # Parameters

    status : `str`
    rounds_needed : `int`, optional
        For an unresolved target: about how many rounds would resolve it; None
        when it is not resolvable (or not unresolved).
    reason : `str`
        A phrase for the target table.
    """

    status: str
    rounds_needed: Optional[int] = None
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.status} ({self.reason})" if self.reason else self.status


def ratio_interval(
    numerator: Sequence[float], denominator: Sequence[float], paired: bool = True
) -> Interval:
    """
    The ratio of two steps' times, from their per-round values (see the module docstring).

    # Parameters

    numerator, denominator : `Sequence[float]`
        One positive value per round.
    paired : `bool`, optional (default = `True`)
        Whether round `i` of both ran together (then both have as many rounds).
    """
    estimate, low, high, rounds = _mean_difference(numpy.log(numerator), numpy.log(denominator), paired)
    return Interval(math.exp(estimate), math.exp(low), math.exp(high), rounds)


def difference_interval(
    minuend: Sequence[float], subtrahend: Sequence[float], paired: bool = True
) -> Interval:
    """The mean difference of two steps' per-round values, paired or not (as `ratio_interval`)."""
    return Interval(*_mean_difference(numpy.asarray(minuend, float), numpy.asarray(subtrahend, float), paired))


def timing_ratio(numerator: Timing, denominator: Timing) -> Interval:
    """`ratio_interval` of two `Timing`s' round medians, paired when they come from the same measurement."""
    return ratio_interval(numerator.round_medians, denominator.round_medians, numerator.paired_with(denominator))


def timing_difference(minuend: Timing, subtrahend: Timing) -> Interval:
    """`difference_interval` of two `Timing`s' round medians, in seconds."""
    return difference_interval(minuend.round_medians, subtrahend.round_medians, minuend.paired_with(subtrahend))


def _mean_difference(x: numpy.ndarray, y: numpy.ndarray, paired: bool) -> Tuple[float, float, float, int]:
    """mean(x) - mean(y) (per round when paired), its bootstrap percentile interval, and the rounds."""
    if len(x) == 0 or len(y) == 0:
        raise ValueError("an interval needs at least one round of each step")
    if paired and len(x) != len(y):
        raise ValueError(f"paired values need as many rounds on both sides, not {len(x)} and {len(y)}")
    rng = numpy.random.default_rng(BOOTSTRAP_SEED)
    if paired:
        differences = x - y
        resampled = _resampled_means(differences, rng)
        estimate = float(differences.mean())
    else:
        resampled = _resampled_means(x, rng) - _resampled_means(y, rng)
        estimate = float(x.mean() - y.mean())
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = numpy.percentile(resampled, [tail, 100 - tail])
    return estimate, float(low), float(high), min(len(x), len(y))


def _resampled_means(values: numpy.ndarray, rng: numpy.random.Generator) -> numpy.ndarray:
    indices = rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))
    return values[indices].mean(axis=1)


def impossible_ordering(interval: Interval, at_least: float = 1.0) -> bool:
    """
    Whether a measured value is one the work done rules out: its whole interval below
    `at_least` (1 for the ratio of a step to a strict subset of its work, 0 for the
    cost of a part), from enough rounds to be an interval.
    """
    return interval.rounds >= MIN_ROUNDS and interval.high < at_least


def verdict(interval: Interval, comparison: str, threshold: float, at_least: Optional[float] = None) -> Verdict:
    """
    The status of a target `value <comparison> threshold` (see the module docstring).

    # Parameters

    interval : `Interval`
    comparison : `str`
        `"<="` or `">="`.
    threshold : `float`
    at_least : `float`, optional
        The least value the work done allows (see `impossible_ordering`).
    """
    if comparison not in ("<=", ">="):
        raise ValueError(f"comparison must be <= or >=, not {comparison!r}")
    if interval.rounds < MIN_ROUNDS:
        return Verdict(
            UNRESOLVED, MIN_ROUNDS, f"{interval.rounds} round(s): an interval needs at least {MIN_ROUNDS}"
        )
    if at_least is not None and impossible_ordering(interval, at_least):
        return Verdict(
            MEASUREMENT_ERROR, None,
            f"the whole interval is below {format_value(at_least)}, which the work done rules out",
        )
    above, below = interval.low > threshold, interval.high < threshold
    if comparison == "<=" and interval.high <= threshold or comparison == ">=" and interval.low >= threshold:
        return Verdict(MET)
    if comparison == "<=" and above or comparison == ">=" and below:
        return Verdict(MISSED)
    needed = rounds_to_resolve(interval, threshold)
    if needed is None:
        return Verdict(UNRESOLVED, None, "not resolvable: the estimate is within noise of the threshold")
    return Verdict(UNRESOLVED, needed, f"about {needed} rounds would resolve it")


def rounds_to_resolve(interval: Interval, threshold: float) -> Optional[int]:
    """
    About how many rounds would move the interval off `threshold` (see the module
    docstring); None beyond `MAX_USEFUL_ROUNDS` or with the estimate on the threshold.
    """
    if interval.estimate > threshold:
        half_width, distance = interval.estimate - interval.low, interval.estimate - threshold
    else:
        half_width, distance = interval.high - interval.estimate, threshold - interval.estimate
    if distance <= 0:
        return None
    needed = max(interval.rounds + 1, math.ceil(interval.rounds * (half_width / distance) ** 2))
    return needed if needed <= MAX_USEFUL_ROUNDS else None


def add_headline(section: Section, name: str, interval: Interval) -> None:
    """The estimate as headline `name`, with its companions `<name>_ci_low` and `<name>_ci_high`."""
    section.headlines[name] = interval.estimate
    section.headlines[name + CI_LOW_SUFFIX] = interval.low
    section.headlines[name + CI_HIGH_SUFFIX] = interval.high
    section.intervals[name] = interval


def is_companion(headline: str) -> bool:
    """Whether a headline is an interval bound of another."""
    return headline.endswith(CI_LOW_SUFFIX) or headline.endswith(CI_HIGH_SUFFIX)
