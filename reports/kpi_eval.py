"""Evaluate parsed KPIs over a `ScenarioResult` into `KpiVerdict`s.

Windows are sets of slices: a bucket belongs to a phase when its middle (`mid_s`) lies
inside [start_s, end_s). `fault` / `recovery` without a name are the union
of every fault / recovery phase. A windowed KPI with nothing to measure FAILS (a gate that
passes on no data is the worst bug a gate can have).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from reports import hdr
from reports.kpi_parse import LATENCY, PERCENTILES, Kpi
from reports.model import KpiVerdict, Phase, ProbeSample, ScenarioResult, SliceBucket

WS_PREFIX = "WS "


def window_spans(
    window: str, phases: Sequence[Phase], duration_s: float
) -> list[tuple[float, float]]:
    """The [start, end) spans of a window name; empty when the scenario has no such phase."""
    if window == "whole":
        return [(0.0, duration_s)]
    if window in ("fault", "recovery"):
        return [(p.start_s, p.end_s) for p in phases if p.kind == window]
    return [(p.start_s, p.end_s) for p in phases if p.name == window]


def _inside(t: float, spans: Iterable[tuple[float, float]]) -> bool:
    return any(start <= t < end for start, end in spans)


def matches(argument: str, name: str) -> bool:
    if argument == "*":
        return not name.startswith(WS_PREFIX)
    return name == argument


def measure_buckets(kpi: Kpi, buckets: Sequence[SliceBucket], seconds: float) -> float | None:
    """The KPI's measured value over already-selected buckets (None: nothing to measure)."""
    chosen = [b for b in buckets if matches(kpi.argument, b.name)]
    count = sum(b.count for b in chosen)
    if kpi.function == "count":
        return float(count)
    if kpi.function == "rps":
        return count / seconds if seconds > 0 else None
    if count == 0:
        return None
    if kpi.function == "error_rate":
        return 100.0 * sum(b.errors for b in chosen) / count
    histogram = hdr.merge(b.histogram for b in chosen)
    if histogram.get_total_count() == 0:
        return None
    if kpi.function in PERCENTILES:
        value_us = float(histogram.get_value_at_percentile(PERCENTILES[kpi.function]))
    elif kpi.function == "avg":
        value_us = float(histogram.get_mean_value())
    elif kpi.function == "max":
        value_us = float(histogram.get_max_value())
    else:
        value_us = float(histogram.get_min_value())
    return value_us / 1000.0


def measure_probes(kpi: Kpi, samples: Sequence[ProbeSample]) -> float | None:
    values = sorted(float(s.value) for s in samples if isinstance(s.value, int | float))
    if not values:
        return None
    if kpi.function == "avg":
        return sum(values) / len(values)
    if kpi.function == "max":
        return values[-1]
    if kpi.function == "min":
        return values[0]
    rank = max(0, math.ceil(PERCENTILES[kpi.function] / 100 * len(values)) - 1)
    return values[rank]


def holds(comparator: str, measured: float, threshold: float) -> bool:
    return {
        "<": measured < threshold,
        "<=": measured <= threshold,
        ">": measured > threshold,
        ">=": measured >= threshold,
        "==": math.isclose(measured, threshold, abs_tol=1e-9),
    }[comparator]


def margin(comparator: str, measured: float, threshold: float) -> float:
    if comparator in ("<", "<="):
        return threshold - measured
    if comparator in (">", ">="):
        return measured - threshold
    return -abs(measured - threshold)


def verdict(kpi: Kpi, measured: float | None, window: str, why_none: str) -> KpiVerdict:
    passed = measured is not None and holds(kpi.comparator, measured, kpi.threshold)
    if measured is None:
        message = why_none
    else:
        message = f"measured {measured:.4g} {kpi.unit} {'holds' if passed else 'breaks'} {kpi.comparator} {kpi.threshold:g}"
    return KpiVerdict(
        expression=kpi.text,
        window=window,
        measured=measured,
        threshold=kpi.threshold,
        comparator=kpi.comparator,
        unit=kpi.unit,
        passed=passed,
        margin=None if measured is None else margin(kpi.comparator, measured, kpi.threshold),
        message=message,
    )


def _is_probe_series(kpi: Kpi, result: ScenarioResult) -> bool:
    if kpi.function not in LATENCY or kpi.argument == "*":
        return False
    if any(b.name == kpi.argument for b in result.series):
        return False
    return any(p.name == kpi.argument for p in result.probes)


def evaluate(kpi: Kpi, result: ScenarioResult) -> KpiVerdict:
    """One verdict for one KPI over one finished (or aborted) scenario."""
    if kpi.window is not None:
        window = kpi.window
        spans = window_spans(window, result.phases, result.duration_s)
        if not spans:
            return verdict(kpi, None, window, f"the scenario has no {window!r} window")
        if _is_probe_series(kpi, result):
            samples = [p for p in result.probes if p.name == kpi.argument and _inside(p.t_s, spans)]
            why = f"no {kpi.argument} probe samples in {window}"
            judged = verdict(kpi, measure_probes(kpi, samples), window, why)
            if not kpi.argument.endswith("_query"):  # states and gauges have no time unit
                judged.unit = "count"
                judged.message = judged.message.replace(" ms ", " ")
            return judged
        buckets = [b for b in result.series if _inside(b.mid_s, spans)]
        seconds = sum(end - start for start, end in spans)
        why = f"no {kpi.argument} requests in {window}"
        return verdict(kpi, measure_buckets(kpi, buckets, seconds), window, why)
    return _evaluate_windowless(kpi, result)


def _evaluate_windowless(kpi: Kpi, result: ScenarioResult) -> KpiVerdict:
    if kpi.function in ("recovery", "detect"):
        found = [r for r in result.recoveries if r.fault == kpi.argument]
        if not found:
            return verdict(kpi, None, "whole", f"no fault named {kpi.argument!r} ran")
        measure = found[0]
        value = measure.recovery_s if kpi.function == "recovery" else measure.detect_s
        what = "never recovered" if kpi.function == "recovery" else "was never detected"
        return verdict(kpi, value, f"recovery:{kpi.argument}", f"{kpi.argument} {what}")
    ws = result.websocket
    if ws is None:
        return verdict(kpi, None, "whole", "the scenario ran no WebSocket clients")
    if kpi.function == "lost":
        value = float(len(ws.lost))
    elif kpi.function == "duplicated":
        value = float(len(ws.duplicated))
    else:
        value = 100.0 * ws.delivered_ratio
    return verdict(kpi, value, "whole", "")


def evaluate_all(kpis: Iterable[Kpi], result: ScenarioResult) -> list[KpiVerdict]:
    return [evaluate(kpi, result) for kpi in kpis]
