"""Abort on breach: the grace period, the window, and who broke when (pure logic)."""

from __future__ import annotations

import pytest

from reports.model import Phase
from scenarios.abort import AbortWatch
from scenarios.runner import _stretch
from scenarios.schema import KpiSpec

from .test_kpi import bucket

pytestmark = pytest.mark.unit

PHASES = [
    Phase(name="baseline", kind="baseline", start_s=0, end_s=10),
    Phase(name="fault:f", kind="fault", start_s=10, end_s=20, fault="f"),
    Phase(name="recovery:f", kind="recovery", start_s=20, end_s=30, fault="f"),
]


def series(slow_from: int, slow_to: int) -> list:  # type: ignore[type-arg]
    # 50 a second: the window so far reaches p95's floor (100) in 2 s (issue 20)
    return [bucket(s, [900.0 if slow_from <= s < slow_to else 10.0] * 50) for s in range(30)]


def errors(per_second: int, bad: dict[int, int]) -> list:  # type: ignore[type-arg]
    return [bucket(s, [10.0] * per_second, errors=bad.get(s, 0)) for s in range(30)]


def test_a_breach_shorter_than_the_grace_does_not_abort() -> None:
    """10 errors in the fault window's first second: the window so far is shown broken for
    2 s (lower bound above 5 %), then no longer: shorter than the grace."""
    spec = KpiSpec(expression="error_rate(*) < 5% during fault:f", abort=True, grace_s=3)
    watch = AbortWatch([spec], PHASES, 30)
    assert watch.check(errors(50, {10: 10}), [], 30) is None


def test_one_seconds_point_value_never_aborts() -> None:
    """Issue 20's example: 4 errors in 2,000 requests over the window (0.2 %, Wilson upper
    bound 0.45 %), two seconds with one error each (old code: each such second read 1 % >=
    1 %, broken; with grace 1 the run aborted and the KPI was recorded FAILED)."""
    spec = KpiSpec(expression="error_rate(*) < 1% during fault:f", abort=True, grace_s=1)
    # the window 10-20: 8 seconds of 225 requests (2 errors in all), 2 of 100 with 1 each
    sizes = {s: 100 if s in (12, 16) else 225 for s in range(10, 20)}
    bad = {12: 1, 16: 1, 14: 1, 18: 1}
    data = [bucket(s, [10.0] * sizes.get(s, 100), errors=bad.get(s, 0)) for s in range(30)]
    assert AbortWatch([spec], PHASES, 30).check(data, [], 30) is None


def test_a_lasting_breach_aborts_with_its_start_and_decision_time() -> None:
    spec = KpiSpec(expression="p95(*) < 200ms during fault:f", abort=True, grace_s=3)
    watch = AbortWatch([spec], PHASES, 30)
    data = series(12, 30)
    assert watch.check(data, [], 13) is None  # checked incrementally, as it runs
    breach = watch.check(data, [], 30)
    assert breach is not None
    assert (breach.expression, breach.first_broken_s, breach.decided_at_s) == (
        spec.expression,
        12.0,
        15.0,
    )


def test_breaches_outside_the_window_and_non_abort_kpis_are_ignored() -> None:
    specs = [
        KpiSpec(expression="p95(*) < 200ms during baseline", abort=True, grace_s=1),
        KpiSpec(expression="p95(*) < 200ms during fault:f"),
    ]
    assert AbortWatch(specs, PHASES, 30).check(series(10, 30), [], 30) is None


def test_phases_are_cut_at_the_abort_and_stretched_to_the_end() -> None:
    from scenarios.abort import Breach

    cut = _stretch(PHASES, 31.5, Breach("x", 12.0, 15.0))
    assert [(p.name, p.end_s) for p in cut] == [("baseline", 10), ("fault:f", 15.0)]
    assert _stretch(PHASES, 31.5, None)[-1].end_s == 31.5


def test_an_aborted_kpi_keeps_its_own_verdict() -> None:
    """Old code forced the aborting KPI to FAIL whatever its own evaluation said."""
    from typing import Any, cast

    from reports.model import ScenarioResult
    from scenarios.abort import Breach
    from scenarios.runner import ScenarioRun
    from scenarios.schema import Scenario

    scenario = Scenario.model_validate({
        "name": "a", "load": {"users": ["dashboard"], "rate": [{"rps": 50, "hold_s": 30}]},
        "kpis": [{"expression": "error_rate(*) < 5% during whole", "abort": True}],
    })  # fmt: skip
    run = ScenarioRun.__new__(ScenarioRun)
    run.scenario = scenario
    run.breach = Breach("error_rate(*) < 5% during whole", 3.0, 4.0)
    result = ScenarioResult(name="a", status="pass", t0=0.0, duration_s=30, phases=PHASES,
                            series=[bucket(s, [10.0] * 50) for s in range(30)])  # fmt: skip
    (verdict,) = cast(Any, run)._verdicts(result)
    assert verdict.aborted_run
    assert (verdict.status, verdict.passed) == ("pass", True)
