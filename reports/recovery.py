"""Recovery and detection times, resolved to one slice of intended send time (`SLICE_S`),
judged on POOLED samples with the KPI evidence rules (reports.kpi_functions): a slice is a
fraction of a window, never a verdict of its own.

Recovery: from the fault's removal (the undo ISSUED) to the start of the first candidate run
that shows every steady-state check holding. A candidate run opens on a slice where some check
has data (never on silence) and lasts as long as evidence needs: at least K seconds
(`recovery_consecutive_s`) and until every check has the samples its floor asks for (error_rate
< 1 %: 268 requests; p95: 100; count/rps: 5 s). Over the run's pooled samples each check must
hold as its verdict would (error_rate by its Wilson bound, a percentile on its floor), and have
data in at least half of the run's seconds: a run mostly without data for a check is not a
recovery. The slice holding the removal is judged too (its sends after the removal), so a SUT
that never noticed reads 0. The search stops at `end_s` (the next fault's injection, or the end
of the data); slices that end after `in_flight_until_s` are not judged yet. When the data ends
before a run can gather its evidence, there is no recovery (None).

Detection: from injection to the first sign the SUT noticed, and a sign is a CHANGE. Its own
signals first (not ready, the dependency's breaker or replica gauge not closed), each only after
that same series was seen healthy: a series broken from the start shows nothing about this
fault. Otherwise the first slice wholly after the injection where a steady-state check breaks
and whose run (as long as the breach's own evidence needs) shows the breach on pooled samples:
one slow request among 20 is not a p95 breach. `Detection.signal` says which. A service with
no signals profile has no probes: the steady-state breach is all there is.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy

from reports import hdr
from reports.kpi_eval import (
    holds,
    matches,
    measure_buckets,
    measure_pooled,
    measure_probes,
    opposite,
    shown,
)
from reports.kpi_functions import MIN_COUNT_WINDOW_S, Inputs, Measurement
from reports.kpi_parse import LATENCY, Kpi
from reports.model import SLICE_S, SLICES_PER_S, ProbeSample, SliceBucket, slice_of

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


Counts = numpy.ndarray  # an HDR histogram's counts (reports.hdr)


class _Pool:
    """One check's samples per slice, pooled over any run of slices [first, last]."""

    def __init__(
        self,
        check: Kpi,
        buckets: dict[int, list[SliceBucket]],
        samples: dict[int, list[ProbeSample]],
    ) -> None:
        self.check = check
        self.buckets: dict[int, list[SliceBucket]] = {}
        self.values: dict[int, list[float]] = {}
        for index, found in buckets.items():
            chosen = [
                b for b in found if b.count and matches(check.argument, b.name, check.function)
            ]
            if chosen:
                self.buckets[index] = chosen
        # a probe series only when no request of that name was seen (as evaluate() reads it)
        if not self.buckets and check.function in LATENCY and check.argument != "*":
            for index, found_samples in samples.items():
                values = [
                    float(p.value)
                    for p in found_samples
                    if p.name == check.argument and isinstance(p.value, int | float)
                ]
                if values:
                    self.values[index] = values
        self._decoded: dict[int, Counts] = {}
        self._window: tuple[int, int, Counts] | None = None
        self.counts = {i: sum(b.count for b in found) for i, found in self.buckets.items()}
        self.counts.update({i: len(v) for i, v in self.values.items()})
        # count/rps: a window of at least MIN_COUNT_WINDOW_S (kpi_functions)
        self.min_slices = (
            math.ceil(MIN_COUNT_WINDOW_S / SLICE_S) if check.function in ("count", "rps") else 1
        )

    def has_data(self, index: int) -> bool:
        return index in self.counts

    def measure(self, kpi: Kpi, first: int, last: int) -> Measurement:
        seconds = (last + 1 - first) * SLICE_S
        if self.values:
            values = [v for i in range(first, last + 1) for v in self.values.get(i, ())]
            return kpi.entry.measure(Inputs(kpi.argument, kpi.comparator, kpi.threshold,
                                            values=values, seconds=seconds))  # fmt: skip
        chosen = [b for i in range(first, last + 1) for b in self.buckets.get(i, ())]
        if kpi.function not in LATENCY:
            return measure_pooled(kpi, chosen, seconds)  # counts only: nothing to decode
        return measure_pooled(kpi, chosen, seconds, hdr.from_counts(self._counts(first, last)))

    def _slice_counts(self, index: int) -> Counts:
        """One slice's histograms merged into counts, decoded once per pool."""
        if index not in self._decoded:
            merged = hdr.merge(b.histogram for b in self.buckets[index])
            self._decoded[index] = hdr.counts_of(merged)
        return self._decoded[index]

    def _counts(self, first: int, last: int) -> Counts:
        """The run's merged counts, kept as a sliding window: recovery and detection move both
        ends forward, so each slice is added once and taken out once (else: rebuilt)."""
        window = self._window
        if window is None or first < window[0] or last < window[1] or first > window[1]:
            counts = hdr.counts_of(hdr.new_histogram())
            for index in range(first, last + 1):
                if index in self.buckets:
                    counts = counts + self._slice_counts(index)
        else:
            counts = window[2]
            for index in range(window[1] + 1, last + 1):
                if index in self.buckets:
                    counts = counts + self._slice_counts(index)
            for index in range(window[0], first):
                if index in self.buckets:
                    counts = counts - self._slice_counts(index)
        self._window = (first, last, counts)
        return counts

    def evidence_end(self, kpi: Kpi, first: int, stop: int, least: int) -> int | None:
        """The last slice of the shortest run from `first` (at least `least` slices) holding
        the samples `kpi` needs; None when the data ends before."""
        needed = kpi.entry.needed(kpi.comparator, kpi.threshold)
        total = 0
        for last in range(first, stop):
            total += self.counts.get(last, 0)
            if total >= needed and last + 1 - first >= max(least, self.min_slices):
                return last
        return None

    def covers(self, first: int, last: int) -> bool:
        """Data in at least half of the run's seconds."""
        seconds = range(first // SLICES_PER_S, last // SLICES_PER_S + 1)
        covered = sum(
            any(self.has_data(i) for i in range(s * SLICES_PER_S, (s + 1) * SLICES_PER_S)
                if first <= i <= last)
            for s in seconds
        )  # fmt: skip
        return 2 * covered >= len(seconds)


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
    least = max(round(consecutive_s / SLICE_S), 1)
    until = end_s if in_flight_until_s is None else min(end_s, in_flight_until_s)
    buckets, samples = _by_slice(series, probes)
    pools = [_Pool(check, buckets, samples) for check in checks]
    cheap_first = sorted(
        pools, key=lambda pool: pool.check.function in LATENCY
    )  # counts: no decode
    data_end = max([*buckets, *samples], default=-1) + 1  # slices past the data: not judged
    stop = data_end if math.isinf(until) else min(math.floor(until / SLICE_S + 1e-9), data_end)
    for first in range(slice_of(removed_at_s), stop):
        if not any(pool.has_data(first) for pool in pools):
            continue  # a run opens on evidence, never on silence
        ends = [pool.evidence_end(pool.check, first, stop, least) for pool in pools]
        if any(end is None for end in ends):
            return None  # a later run has fewer slices left: it cannot gather more
        last = max(end for end in ends if end is not None)
        if all(
            pool.covers(first, last) and shown(pool.check, pool.measure(pool.check, first, last))
            for pool in cheap_first
        ):
            return round(max(first * SLICE_S, removed_at_s), 3)
    return None


def _sut_signal(
    probes: Sequence[ProbeSample], injected_at_s: float, until_s: float, dependency: str | None
) -> Detection | None:
    """Not ready, or the dependency's breaker (or replica gauge) not closed, after the injection
    AND after that same series was seen healthy: detection means a change (module doc)."""
    watched = {"ready"} | ({f"breaker.{dependency}"} if dependency else set())
    seen_healthy: set[str] = set()
    for sample in sorted(probes, key=lambda p: p.t_s):
        if sample.name not in watched or not isinstance(sample.value, int | float):
            continue
        if sample.t_s >= until_s:
            break
        healthy = sample.value >= 1 if sample.name == "ready" else sample.value < 1
        if healthy:
            seen_healthy.add(sample.name)
        elif sample.t_s >= injected_at_s and sample.name in seen_healthy:
            return Detection(sample.t_s, sample.name)
    return None


def _first_breach(
    checks: Sequence[Kpi],
    series: Sequence[SliceBucket],
    probes: Sequence[ProbeSample],
    injected_at_s: float,
    until_s: float,
) -> Detection | None:
    """The first slice wholly after the injection that breaks a check (point value) AND opens
    a run whose pooled samples show the breach by the breach's own evidence rule (`opposite`)."""
    buckets, samples = _by_slice(series, probes)
    first = math.ceil(injected_at_s / SLICE_S - 1e-9)  # wholly after: no sends from before
    stop = math.ceil(until_s / SLICE_S - 1e-9)
    pools = [_Pool(check, buckets, samples) for check in checks]
    # detection is a change: a check already shown broken just before the injection (its
    # last evidence-sized run before it) cannot detect this fault
    pools = [pool for pool in pools if not _broken_before(pool, first)]
    for index in range(first, stop):
        for pool in pools:
            check = pool.check
            if not pool.has_data(index):
                continue
            point = pool.measure(check, index, index).value
            if point is None or holds(check.comparator, point, check.threshold):
                continue
            broken = opposite(check)
            claim, want = (check, False) if broken is None else (broken, True)  # `==`: its own
            last = pool.evidence_end(claim, index, stop, 1)
            if last is not None and shown(claim, pool.measure(claim, index, last)) is want:
                return Detection(round(index * SLICE_S, 3), f"steady: {check.text}")
    return None


def _broken_before(pool: _Pool, first: int) -> bool:
    """Is the check shown broken over the shortest run of slices ending just before `first`
    that holds the samples the breach's evidence needs?"""
    check = pool.check
    claim, want = (check, False) if opposite(check) is None else (opposite(check), True)
    assert claim is not None
    needed = claim.entry.needed(claim.comparator, claim.threshold)
    total = 0
    for start in range(first - 1, -1, -1):
        total += pool.counts.get(start, 0)
        if total >= needed and first - start >= pool.min_slices:
            return shown(claim, pool.measure(claim, start, first - 1)) is want
    return False


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
