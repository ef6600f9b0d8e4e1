"""
The one timing helper of the benchmark suite.

`measure` runs every step given to it `warmup` times (not timed: first-call
allocations, page faults of memory-mapped tables, oneDNN kernel selection), then
`repeats` rounds in which each step runs once, in an order that rotates from round
to round; a step faster than half a second runs several times per round (up to
10, each call a sample of its own), so that cheap steps get more samples.
Interleaving matters on a shared machine: when background load comes and goes, it
slows every variant of a comparison alike instead of whichever happened to be
timed at that moment, so the ratios printed by the benchmarks stay stable even
when the absolute times do not.  Each call is bracketed by a device
synchronisation (CUDA work is asynchronous), and the statistic reported is the
median of the samples, with the min/max kept to show the spread.
"""
import gc
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping

import torch

# A step faster than this runs several times per round (each call one sample, at
# most MAX_CALLS_PER_ROUND), so that cheap steps get more samples than one per round.
ROUND_SECONDS = 0.5
MAX_CALLS_PER_ROUND = 10


@dataclass
class Timing:
    """Seconds per call of one step, over the timed repeats."""

    samples: List[float]

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


def synchronize(device: torch.device) -> None:
    """Waits for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    steps: Mapping[str, Callable[[], object]], warmup: int, repeats: int, device: torch.device
) -> Dict[str, Timing]:
    """
    Times each named step: `warmup` untimed calls each, then `repeats` interleaved
    rounds (see the module docstring).  Returns a `Timing` per name.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    names = list(steps)
    calls = {name: _calls_per_round(steps[name], warmup, device) for name in names}
    gc.collect()
    samples: Dict[str, List[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].extend(_time_once(steps[name], device) for _ in range(calls[name]))
    return {name: Timing(values) for name, values in samples.items()}


def measure_one(step: Callable[[], object], warmup: int, repeats: int, device: torch.device) -> Timing:
    """`measure` for a single step."""
    return measure({"step": step}, warmup, repeats, device)["step"]


def _calls_per_round(step: Callable[[], object], warmup: int, device: torch.device) -> int:
    """Runs the warm-up calls; a step faster than `ROUND_SECONDS` is called several times per round."""
    seconds = [_time_once(step, device) for _ in range(warmup)]
    if not seconds:
        return 1
    return max(1, min(MAX_CALLS_PER_ROUND, int(ROUND_SECONDS / max(seconds[-1], 1e-9))))


def _time_once(step: Callable[[], object], device: torch.device) -> float:
    start = time.perf_counter()
    step()
    synchronize(device)
    return time.perf_counter() - start
