"""The KPI function registry, minimum evidence, the Wilson bound and the holes of issue 15
(items 4, 7, 8) that it closes. Pure logic: synthetic buckets, no stack."""

from __future__ import annotations

import ast
import math
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from reports import hdr
from reports.kpi_eval import evaluate
from reports.kpi_parse import parse_kpi
from reports.model import (
    SLICES_PER_S,
    GeneratorHealth,
    KpiVerdict,
    Phase,
    ProbeSample,
    ScenarioResult,
    SliceBucket,
    WebSocketSummary,
)
from reports.recovery import second_holds
from scenarios.load.run import LoadOutcome
from scenarios.runner import ScenarioRun
from scenarios.schema import Scenario

pytestmark = pytest.mark.unit

ITEMS = "GET /api/items"


def bucket(second: int, n: int, name: str = ITEMS, errors: int = 0, ms: float = 5.0) -> SliceBucket:
    histogram = hdr.new_histogram()
    for _ in range(n):
        histogram.record_value(int(ms * 1000))
    return SliceBucket(  # the first slice of that second
        slice=second * SLICES_PER_S, name=name, count=n, errors=errors,
        histogram=hdr.encode(histogram),
    )  # fmt: skip


def result(series: list[SliceBucket], **extra: Any) -> ScenarioResult:
    phases = [
        Phase(name="baseline", kind="baseline", start_s=0, end_s=10),
        Phase(name="fault:f", kind="fault", start_s=10, end_s=20, fault="f"),
        Phase(name="recovery:f", kind="recovery", start_s=20, end_s=30, fault="f"),
    ]
    return ScenarioResult(
        name="s", status="pass", t0=0.0, duration_s=30, phases=phases, series=series, **extra
    )


# -- the registry ----------------------------------------------------------------------------
def test_every_parsed_function_is_one_registry_entry() -> None:
    from reports import kpi_parse
    from reports.kpi_functions import FUNCTIONS

    assert frozenset(FUNCTIONS) == kpi_parse.FUNCTIONS
    for name, entry in FUNCTIONS.items():
        assert entry.name == name
        # only windowed ones judged per slice may be steady-state / abort
        assert entry.live == (entry.windowed and entry.per_slice)
    assert not FUNCTIONS["amplification"].live
    assert not FUNCTIONS["returns"].live
    kinds = {name: entry.argument for name, entry in FUNCTIONS.items()}
    assert kinds["rps"] == kinds["count"] == kinds["error_rate"] == "request"
    assert kinds["p95"] == kinds["avg"] == "probe-or-request"
    assert kinds["recovery"] == "fault"
    assert kinds["unacked"] == kinds["delivered"] == "websocket"


def test_a_new_function_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    from reports.kpi_functions import FUNCTIONS, KpiFunction, Measurement

    def half_count(inputs: Any) -> Measurement:
        n = sum(b.count for b in inputs.buckets)
        return Measurement(n / 2 if n else None, n)

    entry = KpiFunction("halves", "count", "request", True, half_count, lambda _c, _t: 1)
    monkeypatch.setitem(FUNCTIONS, "halves", entry)
    kpi = parse_kpi(f"halves({ITEMS}) >= 5 during baseline")
    verdict = evaluate(kpi, result([bucket(1, 10)]))
    assert (verdict.measured, verdict.status, verdict.function) == (5.0, "pass", "halves")


@pytest.mark.parametrize(
    ("function", "needed"),
    [
        ("p50", 10),
        ("p90", 50),
        ("p95", 100),
        ("p99", 500),
        ("p999", 5000),
        ("avg", 10),  # issue 20: the p50 floor (old code: 1)
        ("max", 500),  # every sample below: the p99 floor (old code: 1)
        ("min", 1),  # `min < 100`: reached once, proven by that one sample
    ],
)
def test_minimum_evidence_rule(function: str, needed: int) -> None:
    from reports.kpi_functions import FUNCTIONS

    assert FUNCTIONS[function].needed("<", 100.0) == needed


# -- Wilson ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("errors", "n"), [(0, 10), (3, 100), (50, 100), (1, 1000), (10, 10)])
def test_wilson_bounds_solve_the_score_equation(errors: int, n: int) -> None:
    """Each bound p solves n (p_hat - p)^2 = z^2 p (1 - p), the Wilson score interval's
    definition; the classic closed form for 0 errors is z^2 / (n + z^2)."""
    from reports.kpi_functions import Z_95, wilson_bounds

    assert round(Z_95, 4) == 1.6449  # one-sided 95 %
    low, high = wilson_bounds(errors, n)
    p_hat = errors / n
    for bound in (low, high):
        if 0 < bound < 1:
            assert n * (p_hat - bound) ** 2 == pytest.approx(Z_95**2 * bound * (1 - bound))
    assert low - 1e-12 <= p_hat <= high + 1e-12
    if errors == 0:
        assert high == pytest.approx(Z_95**2 / (n + Z_95**2))


def test_error_rate_is_judged_by_its_upper_bound() -> None:
    """3 errors in 100 is 3 % observed, but we are not 95 % sure it is below 5 % (old code
    compared the observed 3 % and passed)."""
    verdict = evaluate(
        parse_kpi(f"error_rate({ITEMS}) < 5% during baseline"), result([bucket(1, 100, errors=3)])
    )
    assert verdict.measured == pytest.approx(3.0)
    assert not verdict.passed
    assert verdict.status == "fail"
    assert "3 of 100" in verdict.message
    assert "bound 7.2" in verdict.message
    clean = evaluate(
        parse_kpi(f"error_rate({ITEMS}) < 5% during baseline"), result([bucket(1, 100)])
    )
    assert clean.status == "pass"


@pytest.mark.parametrize(("errors", "passes"), [(60, True), (55, False)])
def test_a_rate_above_a_threshold_is_judged_by_its_lower_bound(errors: int, passes: bool) -> None:
    """`> 50%` passes when we are 95 % sure the rate is above 50 %: 60 of 100 yes (lower bound
    51.8 %), 55 of 100 no (46.8 %) though 55 % > 50 %."""
    kpi = parse_kpi(f"error_rate({ITEMS}) > 50% during fault:f")
    verdict = evaluate(kpi, result([bucket(12, 100, errors=errors)]))
    assert verdict.passed is passes
    assert "lower bound" in verdict.message


def test_a_true_ten_percent_error_rate_rarely_passes_five() -> None:
    """Issue 15 item 4: with n = 10 a SUT failing 10 % passed `error_rate < 5%` a third of the
    time. Now n = 10 is too few to judge at all, and at n = 100 it passes < 5 % of runs."""
    from reports.kpi_functions import rate_judged, rate_needed

    assert rate_needed("<", 5.0) == 52
    assert rate_needed("<", 1.0) == 268
    # P(pass) at n = 100, true rate 10 %: sum over error counts whose bound is below 5 %
    passing = [k for k in range(101) if rate_judged("<", k, 100) < 5.0]
    chance = sum(math.comb(100, k) * 0.1**k * 0.9 ** (100 - k) for k in passing)
    assert chance < 0.05


# -- insufficient evidence -------------------------------------------------------------------
def test_a_percentile_on_too_few_samples_is_insufficient() -> None:
    """p95 of 50 requests is nearly their maximum: insufficient (old code: PASS)."""
    verdict = evaluate(parse_kpi(f"p95({ITEMS}) < 200ms during baseline"), result([bucket(1, 50)]))
    assert verdict.status == "insufficient"
    assert not verdict.passed
    assert (verdict.samples, verdict.needed) == (50, 100)
    assert "50 samples" in verdict.message
    assert "needs 100" in verdict.message
    enough = evaluate(parse_kpi(f"p95({ITEMS}) < 200ms during baseline"), result([bucket(1, 100)]))
    assert (enough.status, enough.passed) == ("pass", True)


def test_probe_percentiles_count_probe_samples() -> None:
    probes = [ProbeSample(t_s=t * 0.5, name="db_query", value=3.0) for t in range(20)]
    p95 = evaluate(parse_kpi("p95(db_query) < 50ms during baseline"), result([], probes=probes))
    avg = evaluate(parse_kpi("avg(db_query) < 50ms during baseline"), result([], probes=probes))
    assert (p95.status, p95.samples, p95.needed) == ("insufficient", 20, 100)
    assert (avg.status, avg.samples, avg.needed) == (
        "pass",
        20,
        10,
    )  # issue 20: avg needs the p50 floor


def test_error_rate_needs_enough_requests_to_ever_pass() -> None:
    verdict = evaluate(parse_kpi("error_rate(*) < 1% during baseline"), result([bucket(1, 150)]))
    assert (verdict.status, verdict.samples, verdict.needed) == ("insufficient", 150, 268)


def test_an_insufficient_verdict_makes_the_scenario_invalid() -> None:
    """runner._judge: insufficient evidence is no verdict (old code: PASS)."""
    scenario = Scenario.model_validate(
        {
            "name": "thin",
            "load": {"users": ["api"], "rate": [{"rps": 10, "hold_s": 10}]},
            "kpis": [f"p95({ITEMS}) < 200ms during baseline"],
        }
    )
    run = ScenarioRun.__new__(ScenarioRun)
    run.scenario, run.phases, run.breach, run.invalid, run.times = (
        scenario, scenario.phases(), None, None, {},
    )  # fmt: skip
    run.t0 = time.time()
    from scenarios.journal import Journal

    run.journal = Journal(run.t0)
    run.probes = cast(Any, SimpleNamespace(snapshot=list))
    generator = GeneratorHealth(
        intended_rate=10, achieved_rate=10, scheduled=50, sent=50, max_lag_ms=1, p99_lag_ms=1,
        late_fraction=0, tolerance_ms=20, cpu_percent_max=10, workers=1, valid=True,
    )  # fmt: skip
    outcome = SimpleNamespace(
        series=[bucket(s, 10) for s in range(5)], generator=generator, websocket=None
    )
    judged = run._judge(cast(LoadOutcome, outcome))
    assert judged.status == "invalid"
    assert "insufficient evidence" in str(judged.invalid_reason)
    assert judged.kpis[0].status == "insufficient"


# -- count / rps on an empty window ----------------------------------------------------------
@pytest.mark.parametrize("expression", ["count(*) < 5", "rps(*) < 100", f"count({ITEMS}) < 1"])
def test_count_and_rps_of_an_empty_window_fail(expression: str) -> None:
    """Nothing was measured, so nothing passes (old code: count 0 < 5, PASS)."""
    verdict = evaluate(parse_kpi(f"{expression} during recovery:f"), result([bucket(1, 10)]))
    assert verdict.measured is None
    assert verdict.status == "fail"
    assert not verdict.passed


# -- rps(ready): a request function given a probe series -------------------------------------
def test_a_request_function_over_a_probe_series_does_not_crash_recovery() -> None:
    """Old code: second_holds measured rps over the `ready` probe values -> KeyError: 'rps'."""
    probes = [ProbeSample(t_s=0.2, name="ready", value=1.0)]
    assert second_holds([parse_kpi("rps(ready) > 0")], [], probes) is False


# -- WebSocket -------------------------------------------------------------------------------
def test_error_rate_of_star_counts_websocket_sends() -> None:
    """100 failed `WS send`s of 500 beside 1000 good HTTP requests: error_rate(*) is 6.7 %
    (old code skipped every `WS ` name and read 0 %); latencies of * still exclude WS."""
    series = [
        bucket(1, 1000),
        bucket(1, 500, name="WS send", errors=100, ms=900.0),
        bucket(1, 400, name="WS deliver", ms=900.0),
    ]
    scenario = result(series)
    rate = evaluate(parse_kpi("error_rate(*) < 1% during baseline"), scenario)
    assert rate.measured == pytest.approx(100 / 1500 * 100)
    assert not rate.passed
    assert evaluate(parse_kpi("count(*) > 0 during baseline"), scenario).measured == 1500
    assert evaluate(parse_kpi("max(*) < 100ms during baseline"), scenario).passed


def test_unacked_and_nothing_attempted() -> None:
    ws = WebSocketSummary(sent=8, attempted=10, failed=2, acknowledged=7, unacknowledged=["m8"],
                          received=7)  # fmt: skip
    verdict = evaluate(parse_kpi("unacked(ws) == 0"), result([], websocket=ws))
    assert (verdict.measured, verdict.passed, verdict.function) == (1.0, False, "unacked")
    assert evaluate(parse_kpi("delivered(ws) >= 99%"), result([], websocket=ws)).measured == 70.0
    nothing = WebSocketSummary(sent=0, acknowledged=0, received=0)
    for text in ("delivered(ws) >= 99%", "lost(ws) == 0", "unacked(ws) == 0"):
        verdict = evaluate(parse_kpi(text), result([], websocket=nothing))
        assert verdict.measured is None
        assert not verdict.passed


# -- verdict records -------------------------------------------------------------------------
def test_verdicts_record_what_they_judged() -> None:
    verdict = evaluate(parse_kpi(f"p50({ITEMS}) < 200ms during fault:f"), result([bucket(12, 20)]))
    assert (verdict.function, verdict.argument, verdict.spans) == ("p50", ITEMS, [(10.0, 20.0)])
    assert (verdict.samples, verdict.needed, verdict.status) == (20, 10, "pass")


def test_results_written_before_status_still_load() -> None:
    old = {"expression": "p95(*) < 1s", "window": "whole", "measured": 5.0, "threshold": 1000.0,
           "comparator": "<", "unit": "ms", "passed": False}  # fmt: skip
    assert KpiVerdict.model_validate(old).status == "fail"
    assert KpiVerdict.model_validate({**old, "passed": True}).status == "pass"


# -- users declare what they send ------------------------------------------------------------
def _names_sent(path: Path, class_name: str) -> set[str]:
    """String literals passed as `name=` to a call, or as the first argument of
    `recorder.record(...)`, inside the class: what the user really sends."""
    tree = ast.parse(path.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    names: set[str] = set()
    for node in ast.walk(cls):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                names.add(str(keyword.value.value))
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "record" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return names


def test_user_classes_declare_exactly_the_names_they_send() -> None:
    from scenarios.users import USER_CLASSES, request_names

    root = Path(__file__).parents[2]
    for user, target in USER_CLASSES.items():
        module, _, class_name = target.partition(":")
        path = root / (module.replace(".", "/") + ".py")
        assert set(request_names(user)) == _names_sent(path, class_name), user


def test_probe_series_name_every_replica_breaker() -> None:
    """Every gauge template resolves (a `{replica}` template once broke the CLI's import)."""
    from scenarios.probes import PROBE_SERIES

    assert {"breaker.ai_memory-1", "breaker.ai_memory-2", "breaker.postgres"} <= PROBE_SERIES
    assert not any("{" in name for name in PROBE_SERIES)
