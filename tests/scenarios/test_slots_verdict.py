"""Which FAIL a slot shortage cannot excuse (pure logic; the runs: tests/load/test_slots.py)."""

from __future__ import annotations

from typing import Any

from reports.model import GeneratorHealth, KpiVerdict
from scenarios.slots_verdict import drop_excused_slots, sut_owned_failure

SHORT = "too few slots: 40 needed by Little's law, 20 given"


def _generator(medians: dict[str, float] | None = None) -> GeneratorHealth:
    return GeneratorHealth(intended_rate=100, achieved_rate=90, scheduled=600, sent=540,
                           max_lag_ms=0, p99_lag_ms=0, late_fraction=0, tolerance_ms=5,
                           cpu_percent_max=10, workers=1, valid=True, load_problems=[SHORT],
                           service_p50_ms=medians or {})  # fmt: skip


def _failed(expression: str, function: str, argument: str, threshold: float, **extra: Any) -> KpiVerdict:  # fmt: skip
    return KpiVerdict(expression=expression, window="baseline", measured=threshold * 2,
                      threshold=threshold, comparator="<", unit=extra.pop("unit", "ms"),
                      passed=False, function=function, argument=argument, **extra)  # fmt: skip


def test_a_latency_fail_within_the_sut_s_own_service_time_is_excused() -> None:
    """The SUT's median service time (40 ms) is under the bound: the queue made the latency."""
    verdicts = [_failed("p95(GET /a) < 200ms", "p95", "GET /a", 200)]
    generator = _generator({"GET /a": 40})
    assert sut_owned_failure(verdicts, generator) is None
    assert drop_excused_slots([SHORT], verdicts, generator) == [SHORT]


def test_a_latency_fail_whose_service_time_alone_breaks_it_is_the_sut_s() -> None:
    verdicts = [_failed("p95(GET /a) < 200ms", "p95", "GET /a", 200)]
    generator = _generator({"GET /a": 850})
    assert "850 ms" in str(sut_owned_failure(verdicts, generator))
    assert drop_excused_slots([SHORT, "set-up failed"], verdicts, generator) == ["set-up failed"]


def test_a_low_percentile_or_a_max_is_not_read_against_the_median() -> None:
    """A p10 or a max can be above the bound while the median is not: no claim either way."""
    generator = _generator({"GET /a": 850})
    for function in ("max", "avg", "p10"):
        verdicts = [_failed(f"{function}(GET /a) < 200ms", function, "GET /a", 200)]
        assert sut_owned_failure(verdicts, generator) is None, function


def test_a_named_error_rate_fail_is_the_sut_s_but_a_star_one_is_not() -> None:
    """`*` counts the sends still queued in the harness at the stop: the harness's errors."""
    generator = _generator()
    named = [_failed("error_rate(GET /a) < 1%", "error_rate", "GET /a", 1, unit="%")]
    star = [_failed("error_rate(*) < 1%", "error_rate", "*", 1, unit="%")]
    assert sut_owned_failure(named, generator) is not None
    assert sut_owned_failure(star, generator) is None
    assert drop_excused_slots([SHORT], star, generator) == [SHORT]
