"""The arithmetic of the cost and resource KPIs (`amplification`, `returns`), on plain numbers.

amplification(edge) = calls on the edge / the load's requests, both between the window's first
and last sample of the service's own cumulative counter (`calls.<edge>`): its increase between
them, and the requests sent between them (by intended send time, 0.25 s slices), so a window
longer than the load (its ramp, its drain) changes neither side.

returns(series) during recovery:FAULT = seconds from the fault's removal until the series is
back in its pre-fault band and stays there for RETURN_SAMPLES consecutive samples (~1 s).
Pre-fault level: the samples of the PRE_FAULT_S seconds before the injection. Band: at or below
their maximum plus the tolerance max(1, 10 % of their median) (1: one connection, one fd, one
MiB), so the ordinary jitter of a busy series is inside it. One-sided: the series are resources
held (pool in use, open connections, memory, fds); one that stays ABOVE is one not given back,
one below (connections cut, clients gone at the end of the load) gave back more, not less.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

PRE_FAULT_S = 5.0
PRE_FAULT_MIN_SAMPLES = 3
RETURN_SAMPLES = 3
TOLERANCE_ABS = 1.0
TOLERANCE_REL = 0.10
AMPLIFICATION_MIN_REQUESTS = 100

Point = tuple[float, float]  # (t_s, value)


@dataclass(frozen=True)
class Increase:
    calls: float
    start_s: float  # the first sample's time
    end_s: float  # the last sample's time


def counter_increase(points: Sequence[Point]) -> Increase | None:
    """The increase of a cumulative counter between its first and last sample; a drop is a
    restarted process (its counter starts from 0 again). None: fewer than 2 samples."""
    ordered = sorted(points)
    if len(ordered) < 2 or ordered[-1][0] <= ordered[0][0]:
        return None
    increase = 0.0
    for (_, before), (_, after) in itertools.pairwise(ordered):
        increase += after - before if after >= before else after
    return Increase(increase, ordered[0][0], ordered[-1][0])


@dataclass(frozen=True)
class Band:
    """At or below `high`: what the series held before the fault, with the tolerance."""

    level: float  # the pre-fault median
    high: float
    samples: int

    def holds(self, value: float) -> bool:
        return value <= self.high

    def __str__(self) -> str:
        return f"<= {self.high:g} (pre-fault median {self.level:g})"


def pre_fault_band(points: Sequence[Point], injected_s: float) -> Band | None:
    """The band of the PRE_FAULT_S seconds before injection; None below the minimum samples."""
    values = [v for t, v in points if injected_s - PRE_FAULT_S <= t < injected_s]
    if len(values) < PRE_FAULT_MIN_SAMPLES:
        return None
    level = statistics.median(values)
    tolerance = max(TOLERANCE_ABS, TOLERANCE_REL * abs(level))
    return Band(level, max(values) + tolerance, len(values))


@dataclass(frozen=True)
class Returned:
    after_s: float | None  # None: not back within the samples seen
    observed_s: float  # from the removal to the last sample seen
    last: float | None  # the last value seen


def returned(band: Band, points: Sequence[Point], removed_s: float, end_s: float) -> Returned:
    """When the series (samples in [removed_s, end_s)) is back in the band for good: the first
    sample of the first RETURN_SAMPLES-long run inside it."""
    after = sorted(p for p in points if removed_s <= p[0] < end_s)
    observed = after[-1][0] - removed_s if after else 0.0
    last = after[-1][1] if after else None
    run_start: float | None = None
    run = 0
    for t, value in after:
        if band.holds(value):
            run_start = t if run == 0 else run_start
            run += 1
            if run >= RETURN_SAMPLES and run_start is not None:
                return Returned(max(0.0, run_start - removed_s), observed, last)
        else:
            run = 0
    return Returned(None, observed, last)
