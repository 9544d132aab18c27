"""Evaluate parsed KPIs over a `ScenarioResult` into `KpiVerdict`s, through the registry.

Windows are sets of buckets: a bucket belongs to a phase when its middle (`mid_s`) lies inside
[start_s, end_s). `fault` / `recovery` without a name are the union of every fault / recovery
phase. A KPI with nothing to measure FAILS (a gate that passes on no data is the worst bug a
gate can have); one measured on fewer samples than its function needs is `insufficient`.
Recovery, detection and the abort watch judge POOLED samples (a run of slices, a window so far)
with the same evidence rules (`shown`, `shown_broken`): a slice is a fraction of a window and is
never a verdict of its own. `slice_holds` (a point value) remains for callers that show a
second's state, never for a verdict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from hdrh.histogram import HdrHistogram

from reports.kpi_functions import (
    Inputs,
    KpiFunction,
    Measurement,
    function,
    holds,
)
from reports.kpi_functions import matches as _matches
from reports.kpi_parse import Comparator, Kpi
from reports.model import KpiStatus, KpiVerdict, Phase, ProbeSample, ScenarioResult, SliceBucket
from reports.windows import recovery_window

__all__ = [
    "evaluate",
    "evaluate_all",
    "holds",
    "margin",
    "matches",
    "measure_buckets",
    "measure_pooled",
    "measure_probes",
    "opposite",
    "shown",
    "shown_broken",
    "slice_holds",
    "window_spans",
]

Spans = list[tuple[float, float]]


def window_spans(window: str, phases: Sequence[Phase], duration_s: float) -> Spans:
    """The [start, end) spans of a window name; empty when the scenario has no such phase."""
    if window == "whole":
        return [(0.0, duration_s)]
    if window in ("fault", "recovery"):
        return [(p.start_s, p.end_s) for p in phases if p.kind == window]
    return [(p.start_s, p.end_s) for p in phases if p.name == window]


def _inside(t: float, spans: Iterable[tuple[float, float]]) -> bool:
    return any(start <= t < end for start, end in spans)


def matches(argument: str, name: str, function_name: str = "p95") -> bool:
    """Does request `name` count for `argument` under this function (see kpi_functions)?"""
    return _matches(function(function_name), argument, name)


def _probe_values(samples: Iterable[ProbeSample]) -> list[float]:
    return [float(s.value) for s in samples if isinstance(s.value, int | float)]


def _inputs(
    kpi: Kpi,
    *,
    buckets: Sequence[SliceBucket] = (),
    values: Sequence[float] | None = None,
    seconds: float = 0.0,
    result: ScenarioResult | None = None,
) -> Inputs:
    return Inputs(kpi.argument, kpi.comparator, kpi.threshold, buckets, values, seconds, result)


def _measure_buckets(kpi: Kpi, buckets: Sequence[SliceBucket], seconds: float) -> Measurement:
    chosen = [b for b in buckets if _matches(kpi.entry, kpi.argument, b.name)]
    return kpi.entry.measure(_inputs(kpi, buckets=chosen, seconds=seconds))


def measure_pooled(
    kpi: Kpi, chosen: Sequence[SliceBucket], seconds: float, merged: HdrHistogram | None = None
) -> Measurement:
    """The KPI's whole measurement (value, bound, n) over buckets already chosen for it
    (`merged`: their histograms already merged, so a caller pooling many runs decodes once)."""
    inputs = _inputs(kpi, buckets=chosen, seconds=seconds)
    return kpi.entry.measure(dataclasses.replace(inputs, merged=merged))


def measure_buckets(kpi: Kpi, buckets: Sequence[SliceBucket], seconds: float) -> float | None:
    """The KPI's point value over already-selected buckets (None: nothing to measure)."""
    return _measure_buckets(kpi, buckets, seconds).value


def measure_probes(kpi: Kpi, samples: Sequence[ProbeSample]) -> float | None:
    """The KPI's point value over already-selected probe samples of its series."""
    if kpi.entry.argument != "probe-or-request":
        return None  # e.g. rps(ready): a rate of requests, and `ready` is no request
    return kpi.entry.measure(_inputs(kpi, values=_probe_values(samples))).value


def _reads_probes(kpi: Kpi, bucket_names: set[str], probe_names: set[str]) -> bool:
    """A probe series: an argument of a latency-like function that names no request seen
    but a probe series that was sampled."""
    return (
        kpi.entry.argument == "probe-or-request"
        and kpi.argument != "*"
        and kpi.argument not in bucket_names
        and kpi.argument in probe_names
    )


def slice_holds(
    kpi: Kpi,
    buckets: Sequence[SliceBucket],
    probes: Sequence[ProbeSample],
    slice_s: float = 1.0,
) -> bool:
    """Does one windowed KPI hold within one slice's buckets and probe samples (point value)?"""
    if _reads_probes(kpi, {b.name for b in buckets}, {p.name for p in probes}):
        measured = measure_probes(kpi, [p for p in probes if p.name == kpi.argument])
    else:
        measured = measure_buckets(kpi, buckets, slice_s)
    return measured is not None and holds(kpi.comparator, measured, kpi.threshold)


def shown(kpi: Kpi, measured: Measurement) -> bool | None:
    """Does the KPI hold over pooled samples, judged as its verdict is (its bound, its floor)?
    None: too little evidence to say (fewer samples than its floor, too short a window)."""
    if measured.value is None or measured.compared is None or measured.short:
        return None
    if measured.n < kpi.entry.needed(kpi.comparator, kpi.threshold):
        return None
    return holds(kpi.comparator, measured.compared, kpi.threshold)


_OPPOSITE: dict[str, Comparator] = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def opposite(kpi: Kpi) -> Kpi | None:
    """The claim that the KPI is broken (`p95 < 200ms` -> `p95 >= 200ms`): a breach is shown
    when it holds with ITS evidence rule (`max < t` breaks on the one sample that reaches t;
    `error_rate < 1%` breaks when its lower bound is at or above 1 %). None for `==`."""
    if kpi.comparator == "==":
        return None
    return dataclasses.replace(kpi, comparator=_OPPOSITE[kpi.comparator])


def shown_broken(
    kpi: Kpi, buckets: Sequence[SliceBucket], probes: Sequence[ProbeSample], seconds: float
) -> bool:
    """Is the KPI shown broken over these pooled buckets / probe samples (a window so far), by
    the breach's own evidence rule (`opposite`; `==`: its own verdict failing on its floor)?"""
    claim = opposite(kpi) or kpi
    if _reads_probes(kpi, {b.name for b in buckets}, {p.name for p in probes}):
        values = _probe_values(p for p in probes if p.name == kpi.argument)
        measured = claim.entry.measure(_inputs(claim, values=values, seconds=seconds))
    else:
        measured = _measure_buckets(claim, buckets, seconds)
    return shown(claim, measured) is (claim is not kpi)


def margin(comparator: str, measured: float, threshold: float) -> float:
    if comparator in ("<", "<="):
        return threshold - measured
    if comparator in (">", ">="):
        return measured - threshold
    return -abs(measured - threshold)


def verdict(
    kpi: Kpi, measured: Measurement, window: str, why_none: str, spans: Spans | None = None
) -> KpiVerdict:
    """Judge a measurement: no value fails, too few samples is insufficient, else the bound
    (or value) against the threshold."""
    entry: KpiFunction = kpi.entry
    needed = entry.needed(kpi.comparator, kpi.threshold)
    value, compared = measured.value, measured.compared
    status: KpiStatus
    if value is None or compared is None:
        status, message = "fail", measured.detail or why_none
    elif measured.n < needed:
        status = "insufficient"
        message = f"insufficient evidence: {measured.n} samples, {kpi.function} needs {needed}"
    elif measured.short:
        status, message = "insufficient", f"insufficient evidence: {measured.short}"
    else:
        status = "pass" if holds(kpi.comparator, compared, kpi.threshold) else "fail"
        word = "holds" if status == "pass" else "breaks"
        message = f"measured {value:.4g} {kpi.unit} {word} {kpi.comparator} {kpi.threshold:g}"
    if measured.detail and value is not None:
        message += f" ({measured.detail})"
    return KpiVerdict(
        expression=kpi.text,
        window=window,
        measured=value,
        threshold=kpi.threshold,
        comparator=kpi.comparator,
        unit=kpi.unit,
        passed=status == "pass",
        margin=None if compared is None else margin(kpi.comparator, compared, kpi.threshold),
        message=message,
        status=status,
        function=kpi.function,
        argument=kpi.argument,
        spans=spans or [],
        samples=measured.n,
        needed=needed,
    )


def evaluate(kpi: Kpi, result: ScenarioResult) -> KpiVerdict:
    """One verdict for one KPI over one finished (or aborted) scenario."""
    if kpi.window is None:
        return _evaluate_windowless(kpi, result)
    window = kpi.window
    spans = window_spans(window, result.phases, result.duration_s)
    if not spans:
        return verdict(kpi, Measurement(None), window, f"the scenario has no {window!r} window")
    if kpi.entry.argument in ("edge", "series"):  # reads requests and probes around the window
        seconds = sum(end - start for start, end in spans)
        inputs = Inputs(kpi.argument, kpi.comparator, kpi.threshold, seconds=seconds,
                        result=result, spans=tuple(spans), window=window)  # fmt: skip
        return verdict(kpi, kpi.entry.measure(inputs), window, f"nothing in {window}", spans)
    names = {b.name for b in result.series}
    if _reads_probes(kpi, names, {p.name for p in result.probes}):
        samples = [p for p in result.probes if p.name == kpi.argument and _inside(p.t_s, spans)]
        measured = kpi.entry.measure(_inputs(kpi, values=_probe_values(samples)))
        why = f"no {kpi.argument} probe samples in {window}"
        judged = verdict(kpi, measured, window, why, spans)
        if not kpi.argument.endswith("_query"):  # states and gauges have no time unit
            judged.unit = "count"
            judged.message = judged.message.replace(" ms ", " ")
        return judged
    buckets = [b for b in result.series if _inside(b.mid_s, spans)]
    # over the time the load really ran: after an early stop, no sends past the last slice
    ran_until = max((b.end_s for b in result.series), default=result.duration_s)
    seconds = sum(max(0.0, min(end, ran_until) - start) for start, end in spans)
    why = f"no {kpi.argument} requests in {window}"
    return verdict(kpi, _measure_buckets(kpi, buckets, seconds), window, why, spans)


def _evaluate_windowless(kpi: Kpi, result: ScenarioResult) -> KpiVerdict:
    measured = kpi.entry.measure(_inputs(kpi, result=result))
    if kpi.entry.argument == "fault":
        spans = [(p.start_s, p.end_s) for p in result.phases if p.fault == kpi.argument]
        return verdict(kpi, measured, recovery_window(kpi.argument), "", spans)
    return verdict(kpi, measured, "whole", "", [(0.0, result.duration_s)])


def evaluate_all(kpis: Iterable[Kpi], result: ScenarioResult) -> list[KpiVerdict]:
    return [evaluate(kpi, result) for kpi in kpis]
