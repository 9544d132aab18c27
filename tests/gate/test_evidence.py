"""Evidence for every KPI form (issue 20): each form a verdict rests on needs its floor.
Pure logic: synthetic buckets, no stack."""

from __future__ import annotations

import pytest

from chaosgate.errors import ExpressionError
from reports import hdr
from reports.kpi_eval import evaluate
from reports.kpi_functions import FUNCTIONS
from reports.kpi_parse import parse_kpi
from reports.model import SLICES_PER_S, Phase, ScenarioResult, SliceBucket, WebSocketSummary

pytestmark = pytest.mark.unit

ITEMS = "GET /api/items"


def bucket(second: int, n: int, errors: int = 0, ms: float = 5.0, quarter: int = 0) -> SliceBucket:
    histogram = hdr.new_histogram()
    for _ in range(n):
        histogram.record_value(int(ms * 1000))
    return SliceBucket(slice=second * SLICES_PER_S + quarter, name=ITEMS, count=n, errors=errors,
                       histogram=hdr.encode(histogram))  # fmt: skip


def result(series: list[SliceBucket], **extra: object) -> ScenarioResult:
    phases = [
        Phase(name="baseline", kind="baseline", start_s=0, end_s=10),
        Phase(name="fault:f", kind="fault", start_s=10, end_s=13),
    ]
    return ScenarioResult(name="s", status="pass", t0=0.0, duration_s=13, phases=phases,
                          series=series, **extra)  # fmt: skip


@pytest.mark.parametrize("expression", ["error_rate(*) == 0%", "error_rate(*) <= 0%"])
def test_a_zero_error_rate_needs_the_n_of_below_one_percent(expression: str) -> None:
    """Old code: passed on one request (needed 1)."""
    one = evaluate(parse_kpi(f"{expression} during baseline"), result([bucket(1, 1)]))
    assert (one.status, one.needed) == ("insufficient", 268)
    many = evaluate(parse_kpi(f"{expression} during baseline"), result([bucket(1, 300)]))
    assert many.status == "pass"


def test_an_exact_rate_other_than_0_or_100_is_refused_with_the_reason() -> None:
    with pytest.raises(ExpressionError, match="never shown to be exactly 37%"):
        parse_kpi("error_rate(*) == 37% during baseline")
    assert FUNCTIONS["error_rate"].needed(">=", 100.0) == FUNCTIONS["error_rate"].needed(">", 99)


def test_avg_needs_the_p50_floor() -> None:
    thin = evaluate(parse_kpi(f"avg({ITEMS}) < 50ms during baseline"), result([bucket(1, 3)]))
    assert (thin.status, thin.needed) == ("insufficient", 10)  # old code: pass on 3


def test_max_below_a_bound_needs_the_p99_floor_reaching_it_needs_one() -> None:
    thin = result([bucket(1, 20, ms=5.0)])
    below = evaluate(parse_kpi(f"max({ITEMS}) < 50ms during baseline"), thin)
    assert (below.status, below.needed) == ("insufficient", 500)  # old code: pass on 20
    reached = evaluate(parse_kpi(f"max({ITEMS}) >= 4ms during baseline"), thin)
    assert (reached.status, reached.needed) == ("pass", 1)
    above = evaluate(parse_kpi(f"min({ITEMS}) > 1ms during baseline"), thin)
    assert (above.status, above.needed) == ("insufficient", 500)


def test_delivered_is_judged_by_its_wilson_lower_bound() -> None:
    """Old code: 1 message of 1 received read 100 % >= 99 %: PASS."""
    one = WebSocketSummary(sent=1, attempted=1, acknowledged=1, received=1)
    verdict = evaluate(parse_kpi("delivered(ws) >= 99%"), result([], websocket=one))
    assert (verdict.status, verdict.needed) == ("insufficient", 268)
    # 995 of 1000: 99.5 % observed, but its lower bound is below 99 %: not shown
    most = WebSocketSummary(sent=1000, attempted=1000, acknowledged=1000, received=995)
    verdict = evaluate(parse_kpi("delivered(ws) >= 99%"), result([], websocket=most))
    assert verdict.measured == pytest.approx(99.5)
    assert verdict.status == "fail"
    assert "lower bound" in verdict.message
    every = WebSocketSummary(sent=1000, attempted=1000, acknowledged=1000, received=1000)
    assert evaluate(parse_kpi("delivered(ws) >= 99%"), result([], websocket=every)).passed


@pytest.mark.parametrize("expression", [f"rps({ITEMS}) > 10", f"count({ITEMS}) > 10"])
def test_count_and_rps_need_a_five_second_window(expression: str) -> None:
    """Old code: judged a 3-s window on one sample."""
    series = [bucket(s, 100) for s in range(13)]
    short = evaluate(parse_kpi(f"{expression} during fault:f"), result(series))
    assert short.status == "insufficient"
    assert "at least 5 s" in short.message
    assert evaluate(parse_kpi(f"{expression} during baseline"), result(series)).passed


def test_rps_is_over_the_time_the_load_really_ran() -> None:
    """An early stop at 16 s in a fault window planned 10-20: 6 s of sends, not 10 (old code
    divided by the planned window: 60 rps read as 36)."""
    series = [bucket(s, 15, quarter=q) for s in range(16) for q in range(SLICES_PER_S)]
    phases = [Phase(name="baseline", kind="baseline", start_s=0, end_s=10),
              Phase(name="fault:f", kind="fault", start_s=10, end_s=20)]  # fmt: skip
    stopped = ScenarioResult(name="s", status="pass", t0=0.0, duration_s=17.5, phases=phases,
                             series=series)  # fmt: skip
    verdict = evaluate(parse_kpi(f"rps({ITEMS}) > 50 during fault:f"), stopped)
    assert verdict.measured == pytest.approx(60.0)
    assert verdict.passed


def test_the_numpy_percentile_is_hdrhs_own() -> None:
    import random

    rng = random.Random(5)
    for size in (1, 7, 100, 5000):
        histogram = hdr.new_histogram()
        for _ in range(size):
            histogram.record_value(int(rng.lognormvariate(9, 1.5)) + 1)
        for p in (0.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0):
            assert hdr.value_at_percentile(histogram, p) == histogram.get_value_at_percentile(p)
    assert hdr.value_at_percentile(hdr.new_histogram(), 95.0) == 0
