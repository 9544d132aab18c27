"""Each renderer on the recorded results: Markdown snapshots, JUnit against its XSD, HTML shape."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from reports.html import render_html
from reports.junit import render_junit
from reports.load import load_result
from reports.markdown import render_markdown
from reports.model import RunResult

pytestmark = pytest.mark.unit

JUNIT_XSD = Path(__file__).parent / "junit-10.xsd"
MAX_HTML_BYTES = 3 * 1024 * 1024


def test_markdown_matches_its_snapshot(
    any_result: tuple[str, RunResult], snapshot: Callable[[str, str], None]
) -> None:
    kind, result = any_result
    snapshot(f"result_{kind}.md", render_markdown(result))


def test_markdown_puts_failed_kpis_first(result_path: Callable[[str], Path]) -> None:
    text = render_markdown(load_result(result_path("fail")))
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    outcomes = [row.split("|")[1].strip() for row in rows]
    assert outcomes == ["❌"] * 4 + ["✅"]
    assert text.splitlines()[0].startswith("## ❌ chaosgate FAIL: 4 of 5 KPIs failed")


def test_markdown_escapes_pipes_in_table_cells(result_path: Callable[[str], Path]) -> None:
    result = load_result(result_path("pass"))
    kpi = result.scenarios[0].kpis[0]
    result.scenarios[0].kpis[0] = kpi.model_copy(update={"expression": "p95(GET /a|b) < 5ms"})
    row = next(
        line
        for line in render_markdown(result).splitlines()
        if line.startswith("| ") and "/a" in line
    )
    assert "/a\\|b" in row
    assert row.count(" | ") == 6  # still seven cells


def test_markdown_is_appended_to_the_github_step_summary(
    tmp_path: Path,
    result_path: Callable[[str], Path],
    run_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for _ in range(2):
        outcome = run_cli(
            "report", result_path("fail"), "--format", "markdown", "--out", tmp_path / "s.md"
        )
        assert outcome.code == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert text.count("4 of 5 KPIs failed") == 2


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(JUNIT_XSD))


def test_junit_validates_against_the_schema(
    any_result: tuple[str, RunResult], junit_schema: xmlschema.XMLSchema
) -> None:
    _, result = any_result
    junit_schema.validate(render_junit(result))


def test_the_schema_rejects_a_malformed_report(junit_schema: xmlschema.XMLSchema) -> None:
    # The XSD is a real check: a testcase without a name is not JUnit.
    assert not junit_schema.is_valid(
        '<testsuites><testsuite name="s" tests="1"><testcase/></testsuite></testsuites>'
    )


def _cases(xml: str) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in ET.fromstring(xml).iter("testcase")}


def test_junit_has_one_testcase_per_kpi_with_measured_vs_threshold(
    result_path: Callable[[str], Path],
) -> None:
    result = load_result(result_path("fail"))
    xml = render_junit(result)
    cases = _cases(xml)
    assert len(cases) == sum(len(s.kpis) for s in result.scenarios)
    failing = cases["p99(GET /api/dashboard/performance) < 600ms during fault:postgres-latency"]
    assert failing.get("classname") == "postgres-latency"
    failure = failing.find("failure")
    assert failure is not None
    assert failure.get("message") == "measured 1130.5 ms, required < 600 ms (margin \u2212530.5 ms)"
    assert cases["lost(ws) == 0"].get("classname") == "ws-backend-restart"
    passing = cases["p95(GET /api/dashboard/performance) < 50ms during baseline"]
    assert list(passing) == []
    root = ET.fromstring(xml)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "4", "0")


def test_junit_reports_invalid_scenarios_as_errors(
    result_path: Callable[[str], Path], junit_schema: xmlschema.XMLSchema
) -> None:
    result = load_result(result_path("invalid"))
    cases = _cases(render_junit(result))
    assert cases
    assert all(case.find("error") is not None for case in cases.values())
    assert all(case.find("failure") is None for case in cases.values())
    # Without any KPI, an invalid scenario still shows up red, not as zero tests.
    result.scenarios[0].kpis = []
    xml = render_junit(result)
    junit_schema.validate(xml)
    (only,) = _cases(xml).values()
    error = only.find("error")
    assert error is not None
    assert "generator behind" in (error.get("message") or "")


def test_html_is_self_contained_small_and_deterministic(any_result: tuple[str, RunResult]) -> None:
    _, result = any_result
    html = render_html(result)
    assert len(html.encode()) < MAX_HTML_BYTES
    assert "<script" not in html.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html), "fetches something"
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", html)
    assert "default-src 'none'" in unescape(html)  # a CSP that forbids any fetch
    assert render_html(result) == html


def test_html_shows_the_verdict_first_then_kpis_then_plots(
    result_path: Callable[[str], Path],
) -> None:
    html = render_html(load_result(result_path("fail")))
    banner = html.index('class="banner fail"')
    assert banner < html.index('id="kpis"') < html.index('class="scenario"')
    assert "4 of 5 KPIs failed" in html[banner : html.index('id="kpis"')]
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    # postgres-latency: timeline + HDR distribution; ws-backend-restart: delivery latency
    assert len(svgs) == 3
    assert all(svg.count("<path") > 10 for svg in svgs)
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "inline SVGs must not share ids"
    for text in (
        "postgres-latency",
        "injected",
        "Recovery",
        "lost (acknowledged, never received)",
        "c3-m1400",
        "3f9c2d1e8b7a",
    ):
        assert text in html


def test_html_escapes_text_from_the_result(result_path: Callable[[str], Path]) -> None:
    result = load_result(result_path("pass"))
    result.scenarios[0].description = "<script>alert(1)</script>"
    html = render_html(result)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_hgrm_exports_one_distribution_per_endpoint(
    tmp_path: Path, result_path: Callable[[str], Path], run_cli: Callable[..., Any]
) -> None:
    result = load_result(result_path("pass"))
    outcome = run_cli(
        "report",
        result_path("pass"),
        "--format",
        "json",
        "--out",
        tmp_path / "r.json",
        "--hgrm",
        tmp_path / "hgrm",
    )
    assert outcome.code == 0
    names = sorted(p.name for p in (tmp_path / "hgrm").iterdir())
    assert names == [
        "postgres-latency__get-api-dashboard-performance.hgrm",
        "postgres-latency__get-api-items.hgrm",
        "ws-backend-restart__ws-delivery.hgrm",
    ]
    text = (tmp_path / "hgrm" / names[0]).read_text()
    total = re.search(r"TotalCount\s+=\s+([\d.]+)", text)
    assert total is not None
    expected = sum(
        b.count for b in result.scenarios[0].series if b.name == "GET /api/dashboard/performance"
    )
    assert float(total.group(1)) == expected
    assert load_result(tmp_path / "r.json") == result  # the json format round-trips


def test_sparse_results_still_render(
    result_path: Callable[[str], Path], junit_schema: xmlschema.XMLSchema
) -> None:
    # A run with no scenarios, and a scenario with nothing but probes and no KPIs.
    empty = load_result(result_path("pass")).model_copy(update={"scenarios": []})
    sparse = load_result(result_path("pass"))
    scenario = sparse.scenarios[0]
    sparse.scenarios = [
        scenario.model_copy(update={"series": [], "kpis": [], "recoveries": [], "generator": None})
    ]
    for result in (empty, sparse):
        html = render_html(result)
        assert 'class="banner pass"' in html
        junit_schema.validate(render_junit(result))
        assert render_markdown(result).startswith("## ✅")
    assert html.count("<svg") == 1  # the probes' state timeline


def test_endpoint_table_reads_the_merged_histograms(result_path: Callable[[str], Path]) -> None:
    from reports import hdr
    from reports.html import endpoint_rows

    scenario = load_result(result_path("fail")).scenarios[0]
    rows = {row.name: row for row in endpoint_rows(scenario)}
    buckets = [b for b in scenario.series if b.name == "GET /api/items"]
    merged = hdr.merge(b.histogram for b in buckets)
    row = rows["GET /api/items"]
    assert row.requests == sum(b.count for b in buckets) == merged.get_total_count()
    assert row.errors == sum(b.errors for b in buckets)
    assert row.p99_ms == merged.get_value_at_percentile(99) / 1000
    assert row.max_ms == merged.get_max_value() / 1000


def test_the_console_table_is_a_renderer_like_the_others(
    result_path: Callable[[str], Path], run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """What `chaosgate run` prints is in the registry: written as verdict.txt with the other
    reports, re-rendered by `chaosgate report --format console`, plain text (no colour codes)."""
    from reports.renderers import write_reports

    result = load_result(result_path("fail"))
    write_reports(result, tmp_path)
    text = (tmp_path / "verdict.txt").read_text()
    assert f"chaosgate run {result.run.run_id}: FAIL" in text
    failed = next(k for s in result.scenarios for k in s.kpis if not k.passed)
    assert failed.expression[:30] in text
    assert "\x1b[" not in text
    outcome = run_cli("report", result_path("fail"), "--format", "console")
    assert outcome.code == 0
    assert f"chaosgate run {result.run.run_id}: FAIL" in outcome.out
