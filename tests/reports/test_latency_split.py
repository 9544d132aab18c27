"""Successful and failed requests' latencies apart in the report (issue 14): during an outage
fast 500s mixed into the percentiles make a latency panel look healthy. The record keeps the
errors' latencies per name per slice; the pN KPIs still judge every request, as before."""

from __future__ import annotations

import time

import pytest

from reports import hdr
from reports.html import endpoint_rows, render_html
from reports.kpi_eval import evaluate_all
from reports.kpi_parse import parse_kpi
from reports.model import (
    SLICES_PER_S,
    Machine,
    RunMetadata,
    RunResult,
    ScenarioResult,
    SliceBucket,
    Target,
)
from reports.plots import timeline_svg
from reports.stats import SliceStats, latency_split

pytestmark = pytest.mark.unit

NAME = "GET /items"
SLOW_OK_MS, FAST_ERROR_MS = 800, 2


def outage_second(second: int) -> SliceBucket:
    """10 slow successes and 40 fast 500s (a service failing fast while it struggles)."""
    stats = SliceStats(second * SLICES_PER_S, NAME)
    for _ in range(10):
        stats.record(SLOW_OK_MS * 1000)
    for _ in range(40):
        stats.record(FAST_ERROR_MS * 1000, "http_500")
    return stats.to_bucket()


def outage() -> ScenarioResult:
    return ScenarioResult(name="outage", status="fail", t0=0.0, duration_s=5.0,
                          series=[outage_second(s) for s in range(5)])  # fmt: skip


def test_errors_latencies_are_kept_apart_and_survive_merge_and_the_wire() -> None:
    a, b = SliceStats(3, NAME), SliceStats(3, NAME)
    a.record(500_000)
    a.record(1_000, "http_500")
    b.record(2_000, "timeout")
    total = SliceStats(3, NAME)
    total.merge(SliceStats.from_wire(a.to_wire()))  # into an empty value
    total.merge(SliceStats.from_wire(b.to_wire()))
    total.compact()
    bucket = total.to_bucket()
    assert bucket.error_histogram is not None
    failed = hdr.decode(bucket.error_histogram)
    assert (failed.get_total_count(), hdr.decode(bucket.histogram).get_total_count()) == (2, 3)
    assert failed.get_max_value() < 3_000
    ok = SliceStats(0, NAME)
    ok.record(1_000)
    assert ok.to_bucket().error_histogram is None  # nothing failed: nothing extra on the wire


def test_split_gives_successes_and_failures_apart() -> None:
    split = latency_split(outage().series)
    assert not split.mixed
    assert (split.ok.get_total_count(), split.failed.get_total_count()) == (50, 200)
    assert split.ok.get_value_at_percentile(50) / 1000 == pytest.approx(SLOW_OK_MS, rel=0.01)
    assert split.failed.get_value_at_percentile(99) / 1000 == pytest.approx(FAST_ERROR_MS, rel=0.01)


def test_the_report_shows_ok_and_failed_apart() -> None:
    scenario = outage()
    [row] = endpoint_rows(scenario)
    assert row.p50_ms == pytest.approx(SLOW_OK_MS, rel=0.01)  # was 2 ms with the 500s mixed in
    assert row.failed_p50_ms == pytest.approx(FAST_ERROR_MS, rel=0.01)
    assert not row.mixed
    svg = timeline_svg(scenario)
    assert svg is not None
    for label in ("ok p50", "ok p99", "failed p50", "failed p99"):
        assert f">{label}<" in svg, label


def test_an_older_result_without_error_latencies_says_its_lines_are_every_request() -> None:
    series = [b.model_copy(update={"error_histogram": None}) for b in outage().series]
    scenario = ScenarioResult(name="old", status="fail", t0=0.0, duration_s=5.0, series=series)
    [row] = endpoint_rows(scenario)
    assert row.mixed
    assert row.failed_p50_ms is None
    assert row.p50_ms == pytest.approx(FAST_ERROR_MS, rel=0.01)  # every request, as before
    svg = timeline_svg(scenario)
    assert svg is not None
    assert "all requests, errors included" in svg


def test_percentile_kpis_still_judge_every_request() -> None:
    scenario = outage()
    [verdict] = evaluate_all([parse_kpi(f"p50({NAME}) < 100ms")], scenario)
    every = hdr.merge(b.histogram for b in scenario.series).get_value_at_percentile(50) / 1000
    assert verdict.measured == every == pytest.approx(FAST_ERROR_MS, rel=0.01)


def test_the_banner_shows_the_service_beside_chaosgates_commit() -> None:
    meta = RunMetadata(run_id="r", started_at=time.time(), ended_at=time.time(),
                       chaosgate_version="0.1.0", commit="0123456789abcdef",
                       machine=Machine(hostname="h", platform="p", python="3.11", cpus=2, memory_gb=1))  # fmt: skip
    target = Target(url="http://127.0.0.1:8080", version="1.4.2", stack="external")
    result = RunResult(run=meta, target=target, status="pass", exit_code=0, scenarios=[])
    html = render_html(result)
    banner = html[html.index('class="banner') : html.index("</header>")]
    for text in ("http://127.0.0.1:8080", "1.4.2", "external stack", "0123456789"):
        assert text in banner, text
    assert RunResult.model_validate_json(result.model_dump_json()) == result
    no_target = render_html(result.model_copy(update={"target": None}))
    assert "service" not in no_target[: no_target.index("</header>")]
