"""
How busy the machine was while a benchmark ran: the 1, 5 and 15-minute load
averages at its start and at its end, the CPU time the hypervisor stole over it
(`steal` of /proc/stat, where readable), and the cores this process kept busy on
average (its own CPU time and its finished child processes').

The load averages count this process's own threads too: a benchmark that keeps
both cores of a 2-core machine busy brings the load to about 2 by itself.  So the
cores this process kept busy over the section (its CPU time over the wall time)
are subtracted before a load average is compared with `BUSY_LOAD_PER_CORE` x
cores: an estimate of what other processes added, rough for the 5 and 15-minute
averages, which also remember what ran before the section.
"""
import os
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

BUSY_LOAD_PER_CORE = 0.5  # load from other processes above this many per core: a busy machine
BUSY_STEAL = 0.05  # more than this share of the CPU time stolen by the hypervisor: a busy machine

Load = Tuple[float, float, float]


@dataclass(frozen=True)
class Snapshot:
    """What `MachineState` compares: wall and own CPU seconds, load averages, /proc/stat's (steal, total)."""

    wall_seconds: float
    own_cpu_seconds: float
    load: Optional[Load]
    steal_and_total_ticks: Optional[Tuple[int, int]]


def snapshot() -> Snapshot:
    times = os.times()
    # With the children it waited for: benchmarks that measure in fresh processes (memory, scale)
    # would otherwise count their own work as other processes' load.
    own = times.user + times.system + times.children_user + times.children_system
    return Snapshot(time.monotonic(), own, load_averages(), _steal_and_total_ticks())


def load_averages() -> Optional[Load]:
    try:
        return os.getloadavg()
    except OSError:
        return None


def _steal_and_total_ticks() -> Optional[Tuple[int, int]]:
    """(steal, total) ticks of all CPUs since boot, from /proc/stat's first line (None where unreadable)."""
    try:
        with open("/proc/stat") as stream:
            fields = stream.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    ticks = [int(value) for value in fields[1:9]]
    return ticks[7], sum(ticks)


@dataclass(frozen=True)
class MachineState:
    """
    The machine between two snapshots.

    # Parameters

    load_at_start, load_at_end : `Load`, optional
        The 1, 5 and 15-minute load averages (None where the system has none).
    own_cores : `float`
        Cores this process kept busy on average.
    steal : `float`, optional
        Share of all CPU time stolen by the hypervisor (None where /proc/stat is unreadable).
    cores : `int`
    """

    load_at_start: Optional[Load]
    load_at_end: Optional[Load]
    own_cores: float
    steal: Optional[float]
    cores: int

    @classmethod
    def between(cls, start: Snapshot, end: Snapshot, cores: Optional[int] = None) -> "MachineState":
        wall = max(end.wall_seconds - start.wall_seconds, 1e-9)
        steal = None
        if start.steal_and_total_ticks and end.steal_and_total_ticks:
            stolen, total = (e - s for s, e in zip(start.steal_and_total_ticks, end.steal_and_total_ticks))
            steal = stolen / total if total > 0 else 0.0
        own_cores = (end.own_cpu_seconds - start.own_cpu_seconds) / wall
        return cls(start.load, end.load, own_cores, steal, cores or os.cpu_count() or 1)

    @property
    def others_load(self) -> Optional[float]:
        """The largest load average (start or end) less this process's cores: what others added, about."""
        loads = [value for load in (self.load_at_start, self.load_at_end) if load for value in load]
        return max(loads) - self.own_cores if loads else None

    def busy_reasons(self) -> List[str]:
        """Why the machine counts as busy (empty: it does not)."""
        reasons = []
        if self.others_load is not None and self.others_load > BUSY_LOAD_PER_CORE * self.cores:
            reasons.append(
                f"load from other processes about {self.others_load:.1f} on {self.cores} cores (a load average, "
                f"less the {self.own_cores:.1f} cores this benchmark kept busy)"
            )
        if self.steal is not None and self.steal > BUSY_STEAL:
            reasons.append(f"{100 * self.steal:.0f}% of the CPU time stolen by the hypervisor")
        return reasons

    def describe(self) -> str:
        parts = [
            f"load average (1, 5, 15 min) {_listed(self.load_at_start)} at the start, "
            f"{_listed(self.load_at_end)} at the end",
            f"this process kept {self.own_cores:.1f} of {self.cores} cores busy",
            "steal unreadable" if self.steal is None else f"steal {100 * self.steal:.1f}%",
        ]
        busy = self.busy_reasons()
        parts.append("**busy**: " + "; ".join(busy) if busy else "quiet")
        return "; ".join(parts)


def _listed(load: Optional[Load]) -> str:
    return ", ".join(f"{value:.2f}" for value in load) if load else "unknown"
