"""KPI grammar, evaluation and recovery over synthetic buckets (pure logic)."""

from __future__ import annotations

import pytest

from chaosgate.errors import ExpressionError
from reports import hdr
from reports.kpi_eval import evaluate
from reports.kpi_parse import parse_kpi
from reports.model import (
    SLICES_PER_S,
    Phase,
    ProbeSample,
    RecoveryMeasure,
    ScenarioResult,
    SliceBucket,
    WebSocketSummary,
)
from reports.recovery import detected_at, recovered_at

pytestmark = pytest.mark.unit

DASH = "GET /api/dashboard/performance"


def bucket(
    second: int, latencies_ms: list[float], name: str = DASH, errors: int = 0
) -> SliceBucket:
    """One request name's second, as its first slice (the other slices of it: no data)."""
    histogram = hdr.new_histogram()
    for value in latencies_ms:
        histogram.record_value(int(value * 1000))
    return SliceBucket(
        slice=second * SLICES_PER_S,
        name=name,
        count=len(latencies_ms),
        errors=errors,
        histogram=hdr.encode(histogram),
    )


def scenario(series: list[SliceBucket], **extra: object) -> ScenarioResult:
    phases = [
        Phase(name="baseline", kind="baseline", start_s=0, end_s=10),
        Phase(name="fault:pg-down", kind="fault", start_s=10, end_s=20, fault="pg-down"),
        Phase(name="recovery:pg-down", kind="recovery", start_s=20, end_s=30, fault="pg-down"),
    ]
    return ScenarioResult(
        name="s",
        status="pass",
        t0=0.0,
        duration_s=30,
        phases=phases,
        series=series,
        **extra,
    )


def test_parses_every_documented_form() -> None:
    kpi = parse_kpi("p95(GET /api/dashboard/performance) < 500ms during baseline")
    assert (kpi.function, kpi.argument, kpi.comparator, kpi.threshold, kpi.unit, kpi.window) == (
        "p95",
        DASH,
        "<",
        500.0,
        "ms",
        "baseline",
    )
    assert parse_kpi("p99(*) < 1s during fault:pg-down").threshold == 1000.0
    assert parse_kpi("error_rate(*) < 1% during recovery:pg-down").window == "recovery:pg-down"
    assert parse_kpi("recovery(pg-down) < 30s").window is None
    assert parse_kpi("detect(pg-down) < 5000ms").threshold == 5.0
    assert parse_kpi("lost(ws) == 0").unit == "count"
    assert parse_kpi("delivered(ws) >= 99%").threshold == 99.0
    assert parse_kpi("avg(db_query) < 50ms").window == "whole"
    assert parse_kpi("p99(*) < 1s during fault").window == "fault"


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("p96(*) < 1s", 0, "unknown function"),
        ("p95(*) < 1xs", 10, "unit 'xs'"),
        ("p95(*) 1s", 7, "comparator"),
        ("p95(*) < s", 9, "number"),
        ("recovery(x) < 10", 16, "needs a unit"),
        ("p95(* < 10ms", 12, "missing"),
        ("p95(*) < 10ms during lunch", 21, "window"),
        ("recovery(x) < 3s during baseline", 17, "takes no window"),
        ("lost(http) == 0", 5, "takes `ws`"),
        ("error_rate(*) < 120%", 16, "at most 100"),
        ("p95(*) < 10ms extra", 14, "expected 'during"),
    ],
)
def test_bad_expressions_point_at_the_problem(text: str, position: int, reason: str) -> None:
    with pytest.raises(ExpressionError, match=reason) as raised:
        parse_kpi(text)
    assert raised.value.position == position


def test_latency_percentile_per_window() -> None:
    series = [bucket(s, [10.0] * 99 + [40.0]) for s in range(10)]
    series += [bucket(s, [600.0] * 100) for s in range(10, 20)]
    result = scenario(series)
    baseline = evaluate(parse_kpi(f"p95({DASH}) < 20ms during baseline"), result)
    assert baseline.passed
    assert baseline.measured == pytest.approx(10.0, rel=0.01)
    fault = evaluate(parse_kpi("p95(*) < 500ms during fault:pg-down"), result)
    assert not fault.passed
    assert fault.margin is not None
    assert fault.margin < 0
    whole = evaluate(parse_kpi("max(*) < 1s"), result)
    assert whole.measured == pytest.approx(600.0, rel=0.01)


def test_no_data_fails_rather_than_passes() -> None:
    verdict = evaluate(
        parse_kpi("p95(*) < 500ms during recovery:pg-down"), scenario([bucket(1, [5.0])])
    )
    assert not verdict.passed
    assert verdict.measured is None
    assert "no * requests" in verdict.message


def test_error_rate_and_ws_and_probes() -> None:
    series = [bucket(1, [5.0] * 100, errors=2)]
    probes = [
        ProbeSample(t_s=t / 2, name="db_query", value=v) for t, v in enumerate([10, 20, 30, 40])
    ]
    ws = WebSocketSummary(sent=200, attempted=200, acknowledged=200, received=199, lost=["a"])
    result = scenario(series, probes=probes, websocket=ws)
    assert evaluate(
        parse_kpi("error_rate(*) < 1% during baseline"), result
    ).measured == pytest.approx(2.0)
    assert evaluate(
        parse_kpi("avg(db_query) < 50ms during baseline"), result
    ).measured == pytest.approx(25.0)
    assert not evaluate(parse_kpi("lost(ws) == 0"), result).passed
    assert evaluate(parse_kpi("delivered(ws) >= 99%"), result).measured == pytest.approx(99.5)


def test_recovery_and_detect_verdicts_read_the_measures() -> None:
    measure = RecoveryMeasure(
        fault="pg-down", injected_at_s=10, removed_at_s=20, detected_at_s=11.5, recovered_at_s=24
    )
    result = scenario([], recoveries=[measure])
    assert evaluate(parse_kpi("recovery(pg-down) < 5s"), result).measured == 4.0
    assert not evaluate(parse_kpi("detect(pg-down) < 1s"), result).passed
    missing = evaluate(parse_kpi("recovery(redis-flap) < 5s"), result)
    assert not missing.passed


def test_recovery_is_the_start_of_the_first_k_healthy_seconds() -> None:
    # 100 a second: a run of pooled samples reaches both checks' floors (issue 20)
    healthy, sick = [10.0] * 100, [900.0] * 100
    # removed at 20: 20-22 sick, 23 healthy, 24 sick (a relapse), 25.. healthy
    pattern = {20: sick, 21: sick, 22: sick, 23: healthy, 24: sick}
    series = [bucket(s, pattern.get(s, healthy)) for s in range(20, 30)]
    checks = [parse_kpi("p95(*) < 200ms"), parse_kpi("error_rate(*) < 5%")]
    assert recovered_at(checks, series, [], 20.0, 30.0, consecutive_s=3) == 25.0
    assert recovered_at(checks, series, [], 20.0, 30.0, consecutive_s=1) == 23.0
    assert recovered_at(checks, series, [], 20.0, 27.0, consecutive_s=3) is None


def test_recovery_can_require_a_probe_series() -> None:
    series = [bucket(s, [10.0] * 100) for s in range(0, 10)]
    probes = [ProbeSample(t_s=t / 10 + 0.01, name="ready", value=0 if t < 60 else 1)
              for t in range(100)]  # fmt: skip
    # avg: the p50 floor (10 probe samples); min >= 1 would need 500 (issue 20)
    checks = [parse_kpi("p95(*) < 200ms"), parse_kpi("avg(ready) >= 1")]
    assert recovered_at(checks, series, probes, 2.0, 10.0) == 6.0


def test_detection_reads_readiness_or_breaker() -> None:
    probes = [
        ProbeSample(t_s=10.5, name="ready", value=1),
        ProbeSample(t_s=11.0, name="breaker.postgres", value=0),
        ProbeSample(t_s=12.5, name="breaker.postgres", value=2),
        ProbeSample(t_s=13.0, name="ready", value=0),
    ]
    assert detected_at(probes, 10.0, 20.0, "postgres") == 12.5
    assert detected_at(probes, 10.0, 20.0, "redis") == 13.0
    assert detected_at(probes, 14.0, 20.0, "redis") is None


def test_probe_state_checks_carry_no_time_unit() -> None:
    probes = [ProbeSample(t_s=1.5, name="breaker.postgres", value=2)]
    verdict = evaluate(
        parse_kpi("max(breaker.postgres) >= 2 during baseline"), scenario([], probes=probes)
    )
    assert verdict.passed
    assert verdict.unit == "count"
