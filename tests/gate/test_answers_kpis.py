"""Judging answers, not only latency (issue 21): timeout/degraded/wrong rates with the same
Wilson evidence rule as error_rate; a scenario judging a percentile without an error rate
beside it is warned about (stderr, not an error); a percentile over a window that was mostly
errors says so next to its value in the console table, summary.md and the HTML report."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reports.console import verdict_table
from reports.html import render_html
from reports.kpi_eval import evaluate_all
from reports.kpi_functions import rate_needed
from reports.kpi_parse import parse_kpi
from reports.markdown import render_markdown
from reports.model import (
    SLICES_PER_S,
    Machine,
    Phase,
    RunMetadata,
    RunResult,
    ScenarioResult,
    SliceBucket,
)
from reports.stats import SliceStats
from reports.view import mostly_errors
from scenarios.kpi_lint import unguarded_percentiles
from scenarios.loader import load_scenario

pytestmark = pytest.mark.unit

NAME = "GET /api/dashboard/performance"


def second(s: int, ok: int, *, degraded: int = 0, wrong: int = 0, timeouts: int = 0,
           errors: int = 0, name: str = NAME) -> SliceBucket:  # fmt: skip
    stats = SliceStats(s * SLICES_PER_S, name)
    for _ in range(ok):
        stats.record(5_000)
    for _ in range(degraded):
        stats.record(5_000, None, "degraded")
    for _ in range(wrong):
        stats.record(5_000, None, "wrong")
    for _ in range(timeouts):
        stats.record(10_000_000, None, "timeout")
    for _ in range(errors):
        stats.record(2_000, "http_503")
    return stats.to_bucket()


def scenario(series: list[SliceBucket], duration: float = 10.0) -> ScenarioResult:
    phases = [Phase(name="baseline", kind="baseline", start_s=0.0, end_s=duration)]
    return ScenarioResult(name="s", status="pass", t0=0.0, duration_s=duration,
                          phases=phases, series=series)  # fmt: skip


def judge(expression: str, result: ScenarioResult) -> tuple[str, float | None, str]:
    [verdict] = evaluate_all([parse_kpi(expression)], result)
    return verdict.status, verdict.measured, verdict.message


@pytest.mark.parametrize(
    ("function", "field"), [("degraded_rate", "degraded"), ("wrong_rate", "wrong"),
                            ("timeout_rate", "timeouts")],
)  # fmt: skip
def test_outcome_rates_are_judged_by_their_wilson_bound(function: str, field: str) -> None:
    kpi = f"{function}({NAME}) < 1% during baseline"
    clean = scenario([second(s, ok=40) for s in range(10)])  # 400 requests, none marked
    assert judge(kpi, clean)[:2] == ("pass", 0.0)

    # 0.75 % marked: below 1 %, but the 95 % upper bound is not: fail, as error_rate would
    def one(s: int, kind: str) -> int:
        return int(s < 3 and field == kind)

    marked = scenario([second(s, 40 - (s < 3), degraded=one(s, "degraded"), wrong=one(s, "wrong"),
                              timeouts=one(s, "timeouts")) for s in range(10)])  # fmt: skip
    status, measured, message = judge(kpi, marked)
    assert status == "fail"
    assert measured == pytest.approx(0.75)
    assert "Wilson 95 % upper bound" in message
    few = scenario([second(0, ok=50)])  # the same evidence rule as error_rate: 268 needed
    assert judge(kpi, few)[0] == "insufficient"
    assert rate_needed("<", 1.0) == 268


def test_degraded_and_wrong_are_not_errors_and_a_timeout_is() -> None:
    result = scenario([second(s, ok=30, degraded=5, wrong=5, timeouts=1) for s in range(10)])
    assert judge(f"error_rate({NAME}) < 5% during baseline", result)[1] == pytest.approx(100 / 41)
    assert judge(f"timeout_rate({NAME}) < 5% during baseline", result)[1] == pytest.approx(100 / 41)
    assert judge(f"degraded_rate({NAME}) < 20% during baseline", result)[1] == pytest.approx(
        500 / 41
    )
    assert judge("wrong_rate(*) < 20% during baseline", result)[1] == pytest.approx(500 / 41)


SCENARIO = """\
name: lint
load:
  users: [api, dashboard]
  rate: [{{ramp_to_rps: 20, over_s: 2s}}, {{hold_s: 20s}}]
faults:
  - {{name: f, at_s: 5, for_s: 5s, target: redis, fault: down}}
kpis:
{kpis}
"""


@pytest.mark.parametrize(
    ("kpis", "warned"),
    [
        (["p95(GET /api/items) < 200ms during fault:f"], ["p95(GET /api/items)"]),
        (["p95(GET /api/items) < 200ms during fault:f",
          "error_rate(GET /api/items) < 1% during fault:f"], []),
        (["p95(GET /api/items) < 200ms during fault:f", "error_rate(*) < 1% during fault:f"], []),
        (["p95(GET /api/items) < 200ms during fault:f", "error_rate(*) < 1% during fault"], []),
        (["p95(GET /api/items) < 200ms during fault:f",
          "error_rate(GET /api/items) < 1% during baseline"], ["p95(GET /api/items)"]),
        (["p99(*) < 1s during baseline", "error_rate(GET /api/items) < 1% during baseline"],
         ["p99(*)"]),
        (["p95(db_query) < 50ms during baseline"], []),  # a probe series, not requests
    ],
)  # fmt: skip
def test_a_percentile_without_an_error_rate_beside_it_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kpis: list[str], warned: list[str]
) -> None:
    path = tmp_path / "lint.yaml"
    path.write_text(SCENARIO.format(kpis="\n".join(f"  - {k}" for k in kpis)))
    loaded = load_scenario(path)  # a warning, not an error
    found = unguarded_percentiles([s.kpi for s in loaded.kpis], frozenset({"db_query"}))
    assert [k.text.split(" <")[0] for _, k in found] == warned
    err = capsys.readouterr().err
    assert err.count("warning:") == len(warned)
    if warned:
        assert f"{path}:8: warning: 'p" in err  # file:line of the KPI
        assert "error_rate(" in err


def _mostly_503s() -> RunResult:
    """954 of 955 requests were fast 503s: p95 is fast."""
    series = [second(s, ok=int(s == 0), errors=95 + 4 * (s == 1), name="GET /items")
              for s in range(10)]  # fmt: skip
    result = scenario(series)
    result.kpis = evaluate_all([parse_kpi("p95(GET /items) < 200ms during baseline")], result)
    meta = RunMetadata(run_id="r", started_at=time.time(), ended_at=time.time(),
                       chaosgate_version="0.1.0",
                       machine=Machine(hostname="h", platform="p", python="3.11", cpus=2,
                                       memory_gb=1))  # fmt: skip
    return RunResult(run=meta, status="pass", exit_code=0, scenarios=[result])


def test_a_percentile_over_mostly_errors_says_so_next_to_its_value() -> None:
    run = _mostly_503s()
    [result] = run.scenarios
    [kpi] = result.kpis
    assert kpi.passed  # the fast 503s pass a latency KPI: the note is what tells the reader
    note = "954 of 955 were errors"
    assert mostly_errors(result, kpi) == note
    assert note in render_markdown(run)
    assert note in render_html(run)
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(verdict_table(run))
    assert note in console.export_text()


def test_no_note_when_errors_are_few_or_the_kpi_is_not_a_latency() -> None:
    result = scenario([second(s, ok=60, errors=40, name="GET /items") for s in range(10)])
    result.kpis = evaluate_all(
        [parse_kpi("p95(GET /items) < 200ms during baseline"),
         parse_kpi("error_rate(GET /items) < 50% during baseline")], result,
    )  # fmt: skip
    assert [mostly_errors(result, k) for k in result.kpis] == ["", ""]
