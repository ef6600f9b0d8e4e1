"""
The one timing helper of the benchmark suite.

`measure` runs every step given to it `warmup` times (not timed: first-call
allocations, page faults of memory-mapped tables, oneDNN kernel selection), then
`repeats` rounds.  Every round visits the steps in a fresh random order (a seeded
`random.Random`; the orders are recorded in the `Measurement`), so that no
variant keeps following the same neighbour, as a rotation would make it.  In its
turn a step runs `calls_per_round` times back to back, as a trainer runs it, and
that number is the same for every step of the group, so that no variant gets a
warmer cache or more samples than another: it is chosen from the slowest step's
last warm-up call, as many calls as fit in `ROUND_SECONDS` (at least 1, at most
`MAX_CALLS_PER_ROUND`), so a round lasts at most about
`len(steps) * max(ROUND_SECONDS, slowest call)`.

Interleaving matters on a shared machine: when background load comes and goes, it
slows every variant of a round alike instead of whichever happened to be timed at
that moment.  Samples are kept per round, so that `benchmarks.intervals` can pair
two steps round by round (the ratio of their times within each round) and
bootstrap over rounds.  Each call is bracketed by a device synchronisation (CUDA
work is asynchronous).
"""
import gc
import itertools
import random
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional

import torch

ROUND_SECONDS = 0.5
MAX_CALLS_PER_ROUND = 10
ORDER_SEED = 0

_measurement_ids = itertools.count()


@dataclass
class Timing:
    """
    Seconds per call of one step.

    # Parameters

    rounds : `List[List[float]]`
        The seconds of each timed call, one list per round.
    measurement : `int`
        Which `measure` call timed it: timings of the same measurement are paired
        by round (their round `i` ran in the same stretch of time).
    """

    rounds: List[List[float]]
    measurement: int = -1

    @property
    def samples(self) -> List[float]:
        return [seconds for calls in self.rounds for seconds in calls]

    @property
    def round_medians(self) -> List[float]:
        """One value per round: the median of its calls."""
        return [statistics.median(calls) for calls in self.rounds]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    @property
    def spread(self) -> float:
        """(max - min) / median: how noisy the repeats were."""
        return (self.max - self.min) / self.median if self.median > 0 else 0.0

    def paired_with(self, other: "Timing") -> bool:
        """Whether both were timed in the same rounds (so a ratio can be taken round by round)."""
        return self.measurement == other.measurement and len(self.rounds) == len(other.rounds)


@dataclass
class Measurement:
    """What `measure_rounds` did: the timings, and the schedule that produced them."""

    timings: Dict[str, Timing]
    orders: List[List[str]]
    calls_per_round: int
    seed: int

    def describe(self) -> str:
        """The schedule in a sentence, for a section's notes."""
        calls = "once" if self.calls_per_round == 1 else f"{self.calls_per_round} times"
        return f"{len(self.orders)} rounds, each in a random order (seed {self.seed}), each step called {calls} a round"


def synchronize(device: torch.device) -> None:
    """Waits for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_rounds(
    steps: Mapping[str, Callable[[], object]],
    warmup: int,
    repeats: int,
    device: torch.device,
    seed: int = ORDER_SEED,
    calls_per_round: Optional[int] = None,
) -> Measurement:
    """
    Times each named step as the module docstring says.

    # Parameters

    steps : `Mapping[str, Callable[[], object]]`
        The steps compared, by name.
    warmup : `int`
        Untimed calls of each step before the first round.
    repeats : `int`
        Rounds.
    device : `torch.device`
        Synchronised after every call.
    seed : `int`, optional (default = `ORDER_SEED`)
        Seeds the random order of the rounds.
    calls_per_round : `int`, optional
        Calls of every step per round; by default chosen from the warm-up (see the module docstring).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    names = list(steps)
    warmup_seconds = [_warm_up(steps[name], warmup, device) for name in names]
    calls = calls_per_round or _calls_per_round(warmup_seconds)
    gc.collect()
    order_rng = random.Random(seed)
    rounds: Dict[str, List[List[float]]] = {name: [] for name in names}
    orders = []
    for _ in range(repeats):
        order = order_rng.sample(names, len(names))
        orders.append(order)
        for name in order:
            rounds[name].append([_time_once(steps[name], device) for _ in range(calls)])
    measurement = next(_measurement_ids)
    timings = {name: Timing(rounds[name], measurement) for name in names}
    return Measurement(timings, orders, calls, seed)


def measure(
    steps: Mapping[str, Callable[[], object]], warmup: int, repeats: int, device: torch.device
) -> Dict[str, Timing]:
    """`measure_rounds`, its timings only."""
    return measure_rounds(steps, warmup, repeats, device).timings


def measure_one(step: Callable[[], object], warmup: int, repeats: int, device: torch.device) -> Timing:
    """`measure` for a single step."""
    return measure({"step": step}, warmup, repeats, device)["step"]


def _warm_up(step: Callable[[], object], warmup: int, device: torch.device) -> Optional[float]:
    """Runs the warm-up calls; returns the seconds of the last one (None without warm-up)."""
    seconds = [_time_once(step, device) for _ in range(warmup)]
    return seconds[-1] if seconds else None


def _calls_per_round(warmup_seconds: List[Optional[float]]) -> int:
    """As many calls as the slowest step fits in `ROUND_SECONDS`, the same for every step."""
    measured = [seconds for seconds in warmup_seconds if seconds is not None]
    if not measured:
        return 1
    return max(1, min(MAX_CALLS_PER_ROUND, int(ROUND_SECONDS / max(max(measured), 1e-9))))


def _time_once(step: Callable[[], object], device: torch.device) -> float:
    start = time.perf_counter()
    step()
    synchronize(device)
    return time.perf_counter() - start
