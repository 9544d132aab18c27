"""The cost and resource KPIs (`amplification`, `returns`): their arithmetic and measurement.

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

from reports.model import ScenarioResult
from reports.windows import window_fault

PRE_FAULT_S = 5.0
PRE_FAULT_MIN_SAMPLES = 3
RETURN_SAMPLES = 3
TOLERANCE_ABS = 1.0
TOLERANCE_REL = 0.10
AMPLIFICATION_MIN_REQUESTS = 100

Point = tuple[float, float]  # (t_s, value)
Span = tuple[float, float]
_WS_PREFIX = "WS "  # WebSocket pseudo-requests: no HTTP request of the load


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


@dataclass(frozen=True)
class Found:
    """A measurement as the registry wraps it (reports.kpi_functions.Measurement)."""

    value: float | None
    n: int = 0
    detail: str = ""


def edge_argument(argument: str) -> tuple[str, str | None]:
    """`amplification(EDGE[, REQUEST NAME])` -> (edge, request name or None: every request)."""
    edge, comma, name = argument.partition(",")
    return edge.strip(), (name.strip() or None) if comma else None


def points_of(result: ScenarioResult, series: str) -> list[tuple[float, float]]:
    return [
        (p.t_s, float(p.value))
        for p in result.probes
        if p.name == series and isinstance(p.value, int | float)
    ]


def measure_amplification(
    result: ScenarioResult, argument: str, spans: Sequence[Span], window: str
) -> Found:
    """Calls on the edge per request of the load, between the window's first and last sample
    of the calls counter."""
    edge, name = edge_argument(argument)
    calls = [p for p in points_of(result, f"calls.{edge}") if any(a <= p[0] < z for a, z in spans)]
    counted = counter_increase(calls)
    if counted is None:  # the counter was not read twice: the harness saw too little, not the SUT
        detail = f"{len(calls)} sample(s) of calls.{edge} in {window}: no increase to read"
        return Found(0.0, 0, detail=detail)
    requests = sum(
        b.count
        for b in result.series
        if counted.start_s <= b.mid_s < counted.end_s
        and (b.name == name if name else not b.name.startswith(_WS_PREFIX))
    )
    if requests == 0:
        return Found(None, detail=f"no {name or 'HTTP'} requests in {window}")
    detail = (
        f"{counted.calls:g} calls on {edge} per {requests} {name or 'HTTP'} requests, from"
        f" {counted.start_s:.1f} s to {counted.end_s:.1f} s"
    )
    return Found(counted.calls / requests, requests, detail=detail)


def measure_returns(
    result: ScenarioResult, series: str, window: str, spans: Sequence[Span], threshold: float
) -> Found:
    """Seconds from the fault's removal until the series is back in its pre-fault band."""
    fault = window_fault(window)
    phase = next((p for p in result.phases if p.kind == "fault" and p.fault == fault), None)
    if phase is None or not spans:
        return Found(None, detail=f"fault {fault!r} did not run")
    points = points_of(result, series)
    band = pre_fault_band(points, phase.start_s)
    if band is None:
        seen = sum(1 for t, _ in points if phase.start_s - PRE_FAULT_S <= t < phase.start_s)
        detail = f"{seen} sample(s) of {series} in the {PRE_FAULT_S:g} s before {fault}"
        return Found(0.0, seen, detail=detail)
    end = max(z for _, z in spans)
    back = returned(band, points, phase.end_s, end)
    if back.after_s is not None:
        return Found(back.after_s, band.samples, detail=f"back in {band}")
    if back.observed_s < threshold:  # it may still come back: too short to tell
        detail = f"not back in {band} yet, but only {back.observed_s:.1f} s were seen after removal"
        return Found(back.observed_s, 0, detail=detail)
    return Found(
        None,
        band.samples,
        detail=f"{series} not back in {band} {back.observed_s:.1f} s after {fault}'s"
        f" removal (last value {back.last:g})",
    )
