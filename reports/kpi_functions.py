"""The KPI function registry: every KPI function, in one place.

Each `KpiFunction` says what the function is called, its canonical unit, what its argument
names (a request, a probe series or a request, a fault, the WebSocket clients), whether it is
judged over a window (only windowed ones may appear in `steady_state` or abort the run live),
how it is measured, and how many samples a verdict needs. The parser (`reports.kpi_parse`),
scenario validation (`scenarios.schema`), evaluation (`reports.kpi_eval`), recovery's per-slice
check and the abort watch all read `FUNCTIONS`; a new KPI function is one entry below.

Minimum evidence, for every form (below it a verdict is `insufficient`, the scenario INVALID):
- A percentile pN needs n >= 5 x 100 / (100 - N) samples, so at least five samples lie above it
  and it is more than the maximum: p50 10, p90 50, p95 100, p99 500, p999 5000 (probe series:
  the same rule on probe samples).
- avg needs the p50 floor (10): a mean of fewer samples is one sample's luck.
- max and min are the sample extreme. Claiming every sample stays inside a bound (`max < t`,
  `min > t`, `==`) needs the p99 floor (500): the extreme of 500 samples is at least their
  p99.8, so the claim says something about the tail. Claiming the bound was reached at least
  once (`max >= t`, `min <= t`, e.g. `max(breaker.postgres) >= 2`: the breaker opened) is
  proven by the one sample that reached it: it needs 1.
- An error rate is judged by its one-sided Wilson 95 % bound (upper for < and <=, lower for >
  and >=), so `error_rate < 1%` passes only when we are 95 % sure the rate is below 1 %; it
  needs the fewest requests with which the best outcome (no error) could pass (for < 1 %: 268).
  No bound can show exactly 0 %: `== 0%` and `<= 0%` read the rate itself and need the n of
  `< 1%` (268), as `>= 100%` / `== 100%` need the n of `> 99%`; `==` any other rate is refused
  at validation (a rate is never exactly 37 %).
- delivered(ws) is a rate of messages: judged by the same Wilson bound (lower for >=), with the
  same floor (`>= 99%`: 268 messages attempted).
- slope(SERIES), a probe series' Theil-Sen trend per hour (reports.kpi_trend), is judged by its
  one-sided 95 % bound and needs 20 samples over at least 30 s.
- capacity (the knee of a concluded search, `chaosgate capacity`) rests on the search's own
  evidence rule (every step's KPIs judged with the rules above, close steps repeated): n = 1.
- count and rps need a window of at least MIN_COUNT_WINDOW_S (5 s): users spawn and pace in
  one-second batches, so a count over fewer seconds reads one batch's phase, not the rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from hdrh.histogram import HdrHistogram

from reports import hdr, kpi_cost, kpi_trend
from reports.model import ScenarioResult, SliceBucket, WebSocketSummary

Unit = Literal["ms", "s", "%", "count", "/h", "rps"]  # /h: the series' own unit per hour (slope)
# edge: a dependency with a calls counter (`calls.<edge>`), optionally ", REQUEST NAME";
# series: a probe series, read over the whole result around a fault (returns)
ArgumentKind = Literal["request", "probe-or-request", "fault", "websocket", "edge", "series"]

WS_PREFIX = "WS "
WS_SEND = "WS send"
# one-sided: "95 % sure it is below" (stdlib NormalDist: scipy and statsmodels are not installed)
Z_95 = NormalDist().inv_cdf(0.95)
EVIDENCE_FACTOR = 5  # samples that must lie above a percentile
MIN_COUNT_WINDOW_S = 5.0  # count/rps: a shorter window reads the phase of one-second batches


@dataclass(frozen=True)
class Inputs:
    """What one measurement sees. Windowed functions: the buckets of the argument inside the
    window (or the probe values when the argument is a probe series) and the window's length.
    Window-less functions: the whole result."""

    argument: str
    comparator: str = "<"
    threshold: float = 0.0
    buckets: Sequence[SliceBucket] = ()
    values: Sequence[float] | None = None
    seconds: float = 0.0
    result: ScenarioResult | None = None
    merged: HdrHistogram | None = None  # the buckets' histograms already merged (recovery)
    spans: Sequence[tuple[float, float]] = ()  # the window's spans (edge and series kinds)
    window: str = ""


@dataclass(frozen=True)
class Measurement:
    """`value` is the point estimate (None: nothing to measure, the KPI fails); `judged` is what
    the threshold is compared with (a confidence bound for rates, else the value); `n` the
    number of samples it rests on."""

    value: float | None
    n: int = 0
    judged: float | None = None
    detail: str = ""
    short: str = ""  # why the evidence is insufficient whatever n is (e.g. too short a window)

    @property
    def compared(self) -> float | None:
        return self.value if self.judged is None else self.judged


@dataclass(frozen=True)
class KpiFunction:
    name: str
    unit: Unit
    argument: ArgumentKind
    windowed: bool
    measure: Callable[[Inputs], Measurement]
    needed: Callable[[str, float], int]  # (comparator, threshold in `unit`) -> samples needed
    star_includes_ws_sends: bool = False  # does `*` take in "WS send"?
    per_slice: bool = True  # False: windowed, but judged only on the whole result
    in_run: bool = True  # False: judged by another command (capacity: `chaosgate capacity`)

    @property
    def live(self) -> bool:
        """May it be a steady-state check or abort the run? (judged per slice, as it goes)"""
        return self.windowed and self.per_slice


# -- minimum evidence -------------------------------------------------------------------------
def percentile_needed(percentile: float) -> int:
    return math.ceil(round(EVIDENCE_FACTOR * 100.0 / (100.0 - percentile), 6))


def wilson_bounds(errors: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of errors/n (fractions). Hand-written: it is four lines."""
    if n <= 0:
        return 0.0, 1.0
    p, z2 = errors / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _uses_bound(comparator: str, threshold_pct: float) -> bool:
    """The bound cannot show a rate of exactly 0 % or 100 %: those (and ==) read the rate."""
    if comparator in ("<", "<="):
        return threshold_pct > 0
    if comparator in (">", ">="):
        return threshold_pct < 100
    return False


def rate_judged(comparator: str, errors: int, n: int) -> float:
    low, high = wilson_bounds(errors, n)
    return 100.0 * (high if comparator in ("<", "<=") else low)


def rate_needed(comparator: str, threshold_pct: float) -> int:
    """Fewest requests with which the best outcome (no error for <, all for >) could pass.
    No bound can show exactly 0 % or 100 %: those need the n of `< 1%` / `> 99%`; `==` any
    other rate can never be shown and is refused (ValueError: validation says why)."""
    if not _uses_bound(comparator, threshold_pct):
        if threshold_pct <= 0 and comparator in ("<=", "=="):
            return rate_needed("<", 1.0)
        if threshold_pct >= 100 and comparator in (">=", "=="):
            return rate_needed(">", 99.0)
        if comparator == "==":
            raise ValueError(
                f"a rate is never shown to be exactly {threshold_pct:g}%: write a bound"
                " (< or >), or == 0% / == 100%"
            )
        return 1  # `< 0%`, `> 100%`: can never hold; `>= 0%`, `<= 100%`: always holds
    t = threshold_pct / 100.0
    below = comparator in ("<", "<=")
    n = max(1, math.floor(Z_95**2 * ((1 - t) / t if below else t / (1 - t))) - 1)
    while not holds(comparator, rate_judged(comparator, 0 if below else n, n), threshold_pct):
        n += 1
    return n


def holds(comparator: str, measured: float, threshold: float) -> bool:
    return {
        "<": measured < threshold,
        "<=": measured <= threshold,
        ">": measured > threshold,
        ">=": measured >= threshold,
        "==": math.isclose(measured, threshold, abs_tol=1e-9),
    }[comparator]


def _one(_comparator: str, _threshold: float) -> int:
    return 1


def _avg_needed(_comparator: str, _threshold: float) -> int:
    return percentile_needed(50.0)


def _extreme_needed(kind: Literal["max", "min"]) -> Callable[[str, float], int]:
    """The extreme inside a bound for every sample needs the p99 floor; reaching the bound once
    is proven by one sample (see the module doc)."""
    reached = (">", ">=") if kind == "max" else ("<", "<=")

    def needed(comparator: str, _threshold: float) -> int:
        return 1 if comparator in reached else percentile_needed(99.0)

    return needed


# -- measurements ---------------------------------------------------------------------------
def _count(buckets: Sequence[SliceBucket]) -> int:
    return sum(b.count for b in buckets)


def _latency(
    statistic: Callable[[HdrHistogram], float], probe: Callable[[list[float]], float]
) -> Callable[[Inputs], Measurement]:
    """Request latencies (HDR, µs -> ms) or, for a probe series, its sample values."""

    def measure(inputs: Inputs) -> Measurement:
        if inputs.values is not None:
            values = sorted(inputs.values)
            return Measurement(probe(values) if values else None, len(values))
        histogram = inputs.merged
        if histogram is None:
            histogram = hdr.merge(b.histogram for b in inputs.buckets)
        n = histogram.get_total_count()
        return Measurement(statistic(histogram) / 1000.0 if n else None, n)

    return measure


def _rank(values: list[float], percentile: float) -> float:
    return values[max(0, math.ceil(percentile / 100 * len(values)) - 1)]


def _percentile(percentile: float) -> KpiFunction:
    name = "p999" if percentile == 99.9 else f"p{percentile:g}"
    measure = _latency(
        lambda h: float(hdr.value_at_percentile(h, percentile)), lambda v: _rank(v, percentile)
    )
    needed = percentile_needed(percentile)
    return KpiFunction(name, "ms", "probe-or-request", True, measure, lambda _c, _t: needed)


def _error_rate(inputs: Inputs) -> Measurement:
    n = _count(inputs.buckets)
    if n == 0:
        return Measurement(None)
    errors = sum(b.errors for b in inputs.buckets)
    observed = 100.0 * errors / n
    if not _uses_bound(inputs.comparator, inputs.threshold):
        return Measurement(observed, n)
    judged = rate_judged(inputs.comparator, errors, n)
    side = "upper" if inputs.comparator in ("<", "<=") else "lower"
    detail = f"{errors} of {n} failed: {observed:.3g} %, Wilson 95 % {side} bound {judged:.3g} %"
    return Measurement(observed, n, judged, detail)


def _short_window(seconds: float) -> str:
    if seconds >= MIN_COUNT_WINDOW_S:
        return ""
    return f"a window of {seconds:.3g} s; a count needs at least {MIN_COUNT_WINDOW_S:g} s"


def _count_kpi(inputs: Inputs) -> Measurement:
    n = _count(inputs.buckets)
    # an empty window measured nothing
    return Measurement(float(n) if n else None, n, short=_short_window(inputs.seconds))


def _rps(inputs: Inputs) -> Measurement:
    n = _count(inputs.buckets)
    value = n / inputs.seconds if n and inputs.seconds > 0 else None
    return Measurement(value, n, short=_short_window(inputs.seconds))


def _fault_time(kind: Literal["recovery", "detect"]) -> Callable[[Inputs], Measurement]:
    def measure(inputs: Inputs) -> Measurement:
        assert inputs.result is not None
        found = [r for r in inputs.result.recoveries if r.fault == inputs.argument]
        if not found:
            return Measurement(None, detail=f"no fault named {inputs.argument!r} ran")
        value = found[0].recovery_s if kind == "recovery" else found[0].detect_s
        if value is None:
            what = "never recovered" if kind == "recovery" else "was never detected"
            return Measurement(None, detail=f"{inputs.argument} {what}")
        return Measurement(value, 1)

    return measure


def _websocket(
    read: Callable[[ScenarioResult], float], show_counts: bool = False
) -> Callable[[Inputs], Measurement]:
    """Nothing attempted is no measurement: a WebSocket KPI then fails."""

    def measure(inputs: Inputs) -> Measurement:
        assert inputs.result is not None
        ws = inputs.result.websocket
        if ws is None or ws.attempted == 0:
            return Measurement(None, detail="nothing attempted: no WebSocket message was attempted")
        detail = (
            f"{ws.received} of {ws.attempted} attempted received; {ws.failed} sends failed,"
            f" {len(ws.unacknowledged)} unacknowledged"
            if show_counts
            else ""
        )
        return Measurement(read(inputs.result), ws.attempted, detail=detail)

    return measure


def _from_cost(found: kpi_cost.Found) -> Measurement:
    return Measurement(found.value, found.n, detail=found.detail)


def _amplification(inputs: Inputs) -> Measurement:
    assert inputs.result is not None
    return _from_cost(
        kpi_cost.measure_amplification(inputs.result, inputs.argument, inputs.spans, inputs.window)
    )


def _returns(inputs: Inputs) -> Measurement:
    assert inputs.result is not None
    found = kpi_cost.measure_returns(
        inputs.result, inputs.argument, inputs.window, inputs.spans, inputs.threshold
    )
    return _from_cost(found)


def _slope(inputs: Inputs) -> Measurement:
    assert inputs.result is not None
    found, bound, short = kpi_trend.measure_slope(
        inputs.result, inputs.argument, inputs.spans, inputs.comparator
    )
    return Measurement(found.value, found.n, bound, found.detail, short)


def _slope_needed(_comparator: str, _threshold: float) -> int:
    return kpi_trend.SLOPE_MIN_POINTS


def _amplification_needed(_comparator: str, _threshold: float) -> int:
    return kpi_cost.AMPLIFICATION_MIN_REQUESTS


def _returns_needed(_comparator: str, _threshold: float) -> int:
    return kpi_cost.PRE_FAULT_MIN_SAMPLES


def _ws(result: ScenarioResult) -> WebSocketSummary:
    assert result.websocket is not None
    return result.websocket


def _delivered(inputs: Inputs) -> Measurement:
    """received / attempted, judged by its Wilson bound like an error rate."""
    plain = _websocket(lambda r: 100.0 * (_ws(r).delivered_ratio or 0.0), True)(inputs)
    if plain.value is None or not _uses_bound(inputs.comparator, inputs.threshold):
        return plain
    assert inputs.result is not None
    ws = _ws(inputs.result)
    received = min(ws.received, ws.attempted)
    judged = rate_judged(inputs.comparator, received, ws.attempted)
    side = "upper" if inputs.comparator in ("<", "<=") else "lower"
    detail = f"{plain.detail}; Wilson 95 % {side} bound {judged:.3g} %"
    return Measurement(plain.value, plain.n, judged, detail)


def _capacity(inputs: Inputs) -> Measurement:
    """The knee of a concluded capacity search (`values`: [knee], given by `chaosgate capacity`;
    no knee: even its lowest rate broke the held KPIs, so the capacity is below it)."""
    if not inputs.values:
        return Measurement(None, detail="no knee: the search's lowest rate already broke")
    return Measurement(inputs.values[0], 1)


def _registry() -> dict[str, KpiFunction]:
    entries = [_percentile(p) for p in (50.0, 90.0, 95.0, 99.0, 99.9)]
    entries += [
        KpiFunction("avg", "ms", "probe-or-request", True,
                    _latency(lambda h: float(h.get_mean_value()), lambda v: sum(v) / len(v)),
                    _avg_needed),
        KpiFunction("max", "ms", "probe-or-request", True,
                    _latency(lambda h: float(h.get_max_value()), lambda v: v[-1]),
                    _extreme_needed("max")),
        KpiFunction("min", "ms", "probe-or-request", True,
                    _latency(lambda h: float(h.get_min_value()), lambda v: v[0]),
                    _extreme_needed("min")),
        KpiFunction("error_rate", "%", "request", True, _error_rate, rate_needed, True),
        KpiFunction("count", "count", "request", True, _count_kpi, _one, True),
        KpiFunction("rps", "count", "request", True, _rps, _one, True),
        KpiFunction("recovery", "s", "fault", False, _fault_time("recovery"), _one),
        KpiFunction("detect", "s", "fault", False, _fault_time("detect"), _one),
        KpiFunction("lost", "count", "websocket", False,
                    _websocket(lambda r: float(len(_ws(r).lost))), _one),
        KpiFunction("duplicated", "count", "websocket", False,
                    _websocket(lambda r: float(len(_ws(r).duplicated))), _one),
        KpiFunction("unacked", "count", "websocket", False,
                    _websocket(lambda r: float(len(_ws(r).unacknowledged))), _one),
        KpiFunction("delivered", "%", "websocket", False, _delivered, rate_needed),
        KpiFunction("amplification", "count", "edge", True, _amplification,
                    _amplification_needed, per_slice=False),
        KpiFunction("returns", "s", "series", True, _returns, _returns_needed, per_slice=False),
        KpiFunction("slope", "/h", "series", True, _slope, _slope_needed, per_slice=False),
        # `capacity(REQUEST) >= N rps`: the knee of a search holding the scenario's baseline KPIs
        # on REQUEST (and `*`); a run cannot measure it, `chaosgate capacity` judges it
        KpiFunction("capacity", "rps", "request", False, _capacity, _one, in_run=False),
    ]  # fmt: skip
    return {entry.name: entry for entry in entries}


FUNCTIONS: dict[str, KpiFunction] = _registry()


def function(name: str) -> KpiFunction:
    return FUNCTIONS[name]


def matches(kpi_function: KpiFunction, argument: str, name: str) -> bool:
    """Does request `name` count for `argument`? `*` is every HTTP request; it takes in the
    WebSocket sends ("WS send") for rates and counts (a failed send is a failed request), not
    for latencies: "WS send" times intended send -> ack and "WS deliver" a fan-out through
    Redis, neither an HTTP response, so they would skew an HTTP latency threshold. "WS deliver"
    records receipts, not requests: counting them would dilute an error rate."""
    if argument != "*":
        return name == argument
    if not name.startswith(WS_PREFIX):
        return True
    return kpi_function.star_includes_ws_sends and name == WS_SEND


# -- outcome kinds beside errors (reports.stats.OUTCOMES) ---------------------------------------
def _outcome_rate(field: Literal["timeouts", "degraded", "wrong"], word: str) -> KpiFunction:
    """The share of requests of one outcome kind, judged like `error_rate` (its Wilson bound
    and minimum evidence): `timeout_rate` (waited until the client gave up; also errors),
    `degraded_rate` and `wrong_rate` (accepted answers a response rule marked)."""

    def measure(inputs: Inputs) -> Measurement:
        n = _count(inputs.buckets)
        if n == 0:
            return Measurement(None)
        hits = sum(getattr(b, field) for b in inputs.buckets)
        observed = 100.0 * hits / n
        if not _uses_bound(inputs.comparator, inputs.threshold):
            return Measurement(observed, n, detail=f"{hits} of {n} {word}")
        judged = rate_judged(inputs.comparator, hits, n)
        side = "upper" if inputs.comparator in ("<", "<=") else "lower"
        detail = f"{hits} of {n} {word}: {observed:.3g} %, Wilson 95 % {side} bound {judged:.3g} %"
        return Measurement(observed, n, judged, detail)

    name = {"timeouts": "timeout_rate", "degraded": "degraded_rate", "wrong": "wrong_rate"}[field]
    return KpiFunction(name, "%", "request", True, measure, rate_needed)


FUNCTIONS.update(
    (entry.name, entry)
    for entry in (
        _outcome_rate("timeouts", "timed out"),
        _outcome_rate("degraded", "degraded"),
        _outcome_rate("wrong", "wrong"),
    )
)
