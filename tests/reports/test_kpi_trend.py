"""slope(SERIES) < X per hour: the grammar, Theil-Sen's robustness, the evidence rules."""

from __future__ import annotations

import pytest

from chaosgate.errors import ExpressionError
from reports.kpi_eval import evaluate
from reports.kpi_parse import parse_kpi
from reports.model import Phase, ProbeSample, ScenarioResult

pytestmark = pytest.mark.unit


def _result(values: list[float], every_s: float = 0.5) -> ScenarioResult:
    probes = [
        ProbeSample(t_s=i * every_s, name="proc.backend.rss_mb", value=v)
        for i, v in enumerate(values)
    ]
    end = len(values) * every_s
    return ScenarioResult(name="s", status="pass", t0=0.0, duration_s=end, probes=probes,
                          phases=[Phase(name="baseline", kind="baseline", start_s=0, end_s=end)])  # fmt: skip


@pytest.mark.parametrize(
    ("text", "threshold"),
    [
        ("slope(proc.backend.rss_mb) < 20 per hour", 20.0),
        ("slope(proc.backend.rss_mb) < 1 per minute during baseline", 60.0),
        ("slope(pool.postgres.in_use) <= 2/h", 2.0),
        ("slope(proc.backend.fds) < 0.5 /min", 30.0),
    ],
)
def test_a_slope_is_a_rate_per_hour(text: str, threshold: float) -> None:
    kpi = parse_kpi(text)
    assert (kpi.function, kpi.unit, kpi.threshold) == ("slope", "/h", threshold)


def test_a_slope_without_a_rate_is_refused() -> None:
    with pytest.raises(ExpressionError, match="needs a rate"):
        parse_kpi("slope(proc.backend.rss_mb) < 20 MB")


def test_a_steady_leak_fails_and_its_rate_is_read() -> None:
    values = [100 + 0.01 * i for i in range(120)]  # 0.01 MB per 0.5 s = 72 MB per hour
    verdict = evaluate(parse_kpi("slope(proc.backend.rss_mb) < 20 per hour"), _result(values))
    assert verdict.status == "fail"
    assert verdict.measured == pytest.approx(72.0, rel=0.01)


def test_one_spike_does_not_make_a_flat_series_a_leak() -> None:
    values = [100.0 + (0.05 if i % 2 else 0.0) for i in range(120)]
    values[100] = 400.0  # a GC pause read at a bad moment: least squares would say a leak
    verdict = evaluate(parse_kpi("slope(proc.backend.rss_mb) < 20 per hour"), _result(values))
    assert verdict.status == "pass", verdict.message


def test_too_few_samples_or_too_short_a_span_is_insufficient() -> None:
    kpi = parse_kpi("slope(proc.backend.rss_mb) < 20 per hour")
    assert evaluate(kpi, _result([100.0] * 10, every_s=5.0)).status == "insufficient"
    assert evaluate(kpi, _result([100.0] * 40, every_s=0.5)).status == "insufficient"  # 20 s
    assert evaluate(kpi, _result([100.0] * 70, every_s=0.5)).status == "pass"  # 35 s
