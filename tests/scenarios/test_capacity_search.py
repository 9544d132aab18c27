"""The capacity search, pure: a fake step runner with a known capacity."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scenarios.capacity import SearchConfig, StepStatus, StepVerdict, search

pytestmark = pytest.mark.unit


def service(capacity: float, *, invalid: Callable[[float, int], bool] = lambda r, n: False,
            close: Callable[[float, int], bool] = lambda r, n: False) -> tuple[Callable[[float], StepVerdict], list[float]]:  # fmt: skip
    """rate -> verdict for a service that holds up to `capacity`; the calls made, in order."""
    calls: list[float] = []

    def run(rate: float) -> StepVerdict:
        calls.append(rate)
        n = calls.count(rate)
        if invalid(rate, n):
            return StepVerdict(rate, "invalid", reason="host busy")
        status: StepStatus = "pass" if rate <= capacity else "fail"
        margin = 0.01 if close(rate, n) else (0.5 if rate <= capacity else -0.5)
        broke = None if status == "pass" else "p95(GET /x) < 100ms during baseline"
        if close(rate, n) and n > 1:
            status = "fail"
            broke = "p95(GET /x) < 100ms during baseline"
        return StepVerdict(rate, status, margin, broke)

    return run, calls


@pytest.mark.parametrize("capacity", [37.0, 120.0, 333.0, 1500.0])
def test_finds_the_knee_within_the_resolution(capacity: float) -> None:
    run, _ = service(capacity)
    config = SearchConfig(min_rps=10, max_rps=5000, resolution=0.1, resolution_rps=5)
    outcome = search(run, config)
    assert outcome.concluded
    assert not outcome.max_held
    assert outcome.knee is not None
    assert outcome.first_fail is not None
    assert outcome.knee <= capacity < outcome.first_fail.rate
    assert config.resolved(outcome.knee, outcome.first_fail.rate)
    assert outcome.first_fail.broke == "p95(GET /x) < 100ms during baseline"


def test_stops_at_max_when_it_holds() -> None:
    run, calls = service(10_000)
    outcome = search(run, SearchConfig(min_rps=10, max_rps=100))
    assert outcome.max_held
    assert outcome.knee == 100
    assert outcome.concluded
    assert calls == [10, 20, 40, 80, 100]  # geometric, then the max itself, never beyond


def test_below_min() -> None:
    run, calls = service(5)
    outcome = search(run, SearchConfig(min_rps=10, max_rps=100))
    assert outcome.below_min
    assert outcome.knee is None
    assert outcome.concluded
    assert calls == [10]


def test_an_invalid_step_is_repeated_once_then_taken_as_it_came() -> None:
    run, calls = service(100, invalid=lambda r, n: r == 40 and n == 1)
    outcome = search(run, SearchConfig(min_rps=10, max_rps=1000))
    assert calls.count(40) == 2
    assert outcome.concluded
    assert outcome.knee is not None
    assert outcome.first_fail is not None
    assert outcome.knee <= 100 < outcome.first_fail.rate


def test_invalid_twice_is_reported_never_a_pass_or_fail() -> None:
    run, calls = service(100, invalid=lambda r, n: r >= 40)
    outcome = search(run, SearchConfig(min_rps=10, max_rps=1000))
    assert calls[:4] == [10, 20, 40, 40]  # repeated once, then bisected below it
    assert not outcome.concluded
    assert outcome.invalid is not None
    assert outcome.invalid.rate == 40
    assert outcome.invalid.reason == "host busy"
    assert outcome.first_fail is None  # never read as a fail
    assert outcome.knee == 35  # bisected to the resolution below it; never read as a pass


def test_a_fail_below_an_invalid_step_concludes() -> None:
    """The generator's own ceiling (INVALID from 80 rps) above a service that breaks at 50."""
    run, calls = service(50, invalid=lambda r, n: r >= 80)
    outcome = search(run, SearchConfig(min_rps=10, max_rps=1000))
    assert calls.count(80) == 2
    assert outcome.concluded
    assert outcome.knee is not None
    assert outcome.first_fail is not None
    assert outcome.knee <= 50 < outcome.first_fail.rate < 80


def test_min_rate_invalid_is_inconclusive() -> None:
    run, calls = service(50, invalid=lambda r, n: True)
    outcome = search(run, SearchConfig(min_rps=10, max_rps=1000))
    assert calls == [10, 10]
    assert not outcome.concluded
    assert not outcome.below_min


def test_a_close_verdict_is_repeated_and_passes_only_if_every_run_passed() -> None:
    # 80 rps: a close pass first, a fail when run again -> 80 is a fail
    run, calls = service(100, close=lambda r, n: r == 80)
    outcome = search(run, SearchConfig(min_rps=10, max_rps=1000, resolution_rps=1, resolution=0.01))
    assert calls.count(80) == 2
    assert outcome.first_fail is not None
    assert outcome.first_fail.rate == 80
    assert outcome.knee is not None
    assert outcome.knee < 80
    [decided] = [j for j in outcome.judged if j.rate == 80]
    assert [a.status for a in decided.attempts] == ["pass", "fail"]


def test_a_clear_verdict_runs_once() -> None:
    run, calls = service(103)
    search(run, SearchConfig(min_rps=10, max_rps=1000))
    assert len(calls) == len(set(calls))


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="min_rps <= max_rps"):
        SearchConfig(min_rps=100, max_rps=10)
