"""Recovery and detection times, resolved to one slice of intended send time (`SLICE_S`).

Health is judged per slice. In a slice each steady-state check HOLDS, BREAKS, or has NO DATA
(no request of its name was intended in the slice, no probe sample of its series fell in it).
A slice is broken when any check breaks, healthy when none breaks and at least one has data,
and "no data" otherwise.

Recovery: from the fault's removal (the undo ISSUED) to the start of the first healthy slice
that opens a run of K seconds (K / SLICE_S slices in a row) in which no slice breaks and every
check was seen holding at least once. A no-data slice neither opens nor breaks a run; a run
that is all no data, or has no data for one of the checks, is not a recovery. The slice holding
the removal is judged too (its sends after the removal), so a SUT that never noticed reads 0.
The search stops at `end_s` (the next fault's injection, or the end of the data); slices that
end after `in_flight_until_s` are not judged yet (requests intended in them may be in flight).

Detection: from injection to the first sign the SUT noticed. Its own signals first (not ready
after being ready, the dependency's breaker not closed); otherwise the start of the first slice
wholly after the injection in which a steady-state check breaks. `Detection.signal` says which.
A service with no signals profile has no probes: the steady-state breach is all there is.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from reports.kpi_eval import holds, matches, measure_buckets, measure_probes
from reports.kpi_parse import LATENCY, Kpi
from reports.model import SLICE_S, ProbeSample, SliceBucket, slice_of

DEFAULT_CONSECUTIVE_S = 3.0


@dataclass(frozen=True)
class Detection:
    at_s: float
    signal: str  # "ready", "breaker.<dep>" or "steady: <check>"


def check_state(
    check: Kpi, buckets: Sequence[SliceBucket], probes: Sequence[ProbeSample], span_s: float
) -> bool | None:
    """Does one check hold over these buckets and probe samples (`span_s` long)? None: no data."""
    chosen = [b for b in buckets if b.count and matches(check.argument, b.name, check.function)]
    if chosen:
        measured = measure_buckets(check, chosen, span_s)
    elif check.function in LATENCY:  # a probe series, e.g. min(ready) >= 1
        measured = measure_probes(check, [p for p in probes if p.name == check.argument])
    else:
        measured = None
    return None if measured is None else holds(check.comparator, measured, check.threshold)


def second_holds(
    checks: Sequence[Kpi], buckets: Sequence[SliceBucket], probes: Sequence[ProbeSample]
) -> bool:
    """Do all checks hold over one second's buckets and probe samples? (No data: no.)"""
    return all(check_state(check, buckets, probes, 1.0) is True for check in checks)


def _by_slice(
    series: Sequence[SliceBucket], probes: Sequence[ProbeSample]
) -> tuple[dict[int, list[SliceBucket]], dict[int, list[ProbeSample]]]:
    buckets: dict[int, list[SliceBucket]] = defaultdict(list)
    for bucket in series:
        buckets[bucket.slice].append(bucket)
    samples: dict[int, list[ProbeSample]] = defaultdict(list)
    for sample in probes:
        samples[slice_of(sample.t_s)].append(sample)
    return buckets, samples


def recovered_at(
    checks: Sequence[Kpi],
    series: Sequence[SliceBucket],
    probes: Sequence[ProbeSample],
    removed_at_s: float,
    end_s: float,
    consecutive_s: float = DEFAULT_CONSECUTIVE_S,
    *,
    in_flight_until_s: float | None = None,
) -> float | None:
    """Scenario time the SUT recovered (see the module doc); None when no run fits before the end."""
    if not checks:
        raise ValueError("recovery needs at least one steady-state check")
    needed = max(round(consecutive_s / SLICE_S), 1)
    until = end_s if in_flight_until_s is None else min(end_s, in_flight_until_s)
    buckets, samples = _by_slice(series, probes)
    run_start: int | None = None
    seen: set[int] = set()  # checks seen holding in the current run
    data_end = max([*buckets, *samples], default=-1) + 1  # slices past the data: not judged
    stop = data_end if math.isinf(until) else min(math.floor(until / SLICE_S + 1e-9), data_end)
    for index in range(slice_of(removed_at_s), stop):
        states = [check_state(c, buckets[index], samples[index], SLICE_S) for c in checks]
        if any(state is False for state in states):
            run_start = None
            continue
        if run_start is None:
            if not any(states):
                continue  # a run opens on evidence, never on silence
            run_start, seen = index, set()
        seen.update(i for i, state in enumerate(states) if state)
        if index + 1 - run_start >= needed and len(seen) == len(checks):
            return round(max(run_start * SLICE_S, removed_at_s), 3)
    return None


def _sut_signal(
    probes: Sequence[ProbeSample], injected_at_s: float, until_s: float, dependency: str | None
) -> Detection | None:
    """Not ready (having been seen ready before), or the dependency's breaker not closed."""
    watched = {"ready"} | ({f"breaker.{dependency}"} if dependency else set())
    # a service never seen ready (a readiness URL it does not serve) shows nothing by it
    seen_ready = False
    for sample in sorted(probes, key=lambda p: p.t_s):
        if sample.name not in watched or not isinstance(sample.value, int | float):
            continue
        if sample.t_s >= until_s:
            break
        is_ready = sample.name == "ready" and sample.value >= 1
        if sample.t_s >= injected_at_s and (
            (sample.name == "ready" and seen_ready and sample.value < 1)
            or (sample.name != "ready" and sample.value >= 1)
        ):
            return Detection(sample.t_s, sample.name)
        seen_ready = seen_ready or is_ready
    return None


def _first_breach(
    checks: Sequence[Kpi],
    series: Sequence[SliceBucket],
    probes: Sequence[ProbeSample],
    injected_at_s: float,
    until_s: float,
) -> Detection | None:
    buckets, samples = _by_slice(series, probes)
    first = math.ceil(injected_at_s / SLICE_S - 1e-9)  # wholly after: no sends from before
    for index in range(first, math.ceil(until_s / SLICE_S - 1e-9)):
        for check in checks:
            if check_state(check, buckets[index], samples[index], SLICE_S) is False:
                return Detection(round(index * SLICE_S, 3), f"steady: {check.text}")
    return None


def detect(
    probes: Sequence[ProbeSample],
    injected_at_s: float,
    until_s: float,
    dependency: str | None,
    checks: Sequence[Kpi] = (),
    series: Sequence[SliceBucket] = (),
) -> Detection | None:
    """First sign in [injected, until) that the SUT noticed. When the fault names a dependency
    whose state the SUT exposes (probes carry `breaker.<dependency>`), only the SUT's own
    signals count (readiness, that breaker): `detect()` then measures the SUT's detection,
    which a SUT without it fails. Otherwise (no such series: a service that declares no
    signals) the first broken steady-state check is the detection."""
    if dependency is not None and any(p.name == f"breaker.{dependency}" for p in probes):
        return _sut_signal(probes, injected_at_s, until_s, dependency)
    return _sut_signal(probes, injected_at_s, until_s, None) or _first_breach(
        checks, series, probes, injected_at_s, until_s
    )


def detected_at(
    probes: Sequence[ProbeSample], injected_at_s: float, until_s: float, dependency: str | None
) -> float | None:
    """First probe time in [injected, until) at which the SUT's own signals showed the fault."""
    found = _sut_signal(probes, injected_at_s, until_s, dependency)
    return None if found is None else found.at_s
