"""Errors explained where people look (console table, summary.md, HTML): the status or error
kind per request name; an invalid run's KPIs "not judged"; no "seed None"; a margin from a
confidence bound says so."""

from __future__ import annotations

from collections.abc import Callable
from html import unescape
from pathlib import Path

import pytest
from rich.console import Console

from reports.console import verdict_table
from reports.html import render_html
from reports.load import load_result
from reports.markdown import render_markdown
from reports.model import RunResult

pytestmark = pytest.mark.unit


def _console(result: RunResult) -> str:
    console = Console(width=400, record=True)
    console.print(verdict_table(result))
    return console.export_text()


def _with_401s(result: RunResult) -> RunResult:
    scenario = result.scenarios[0]
    first = scenario.series[0]
    ok = first.model_copy(
        update={"name": "GET /items", "count": 114, "errors": 0, "error_kinds": {}}
    )
    failed = first.model_copy(
        update={
            "name": "GET /items",
            "count": 602,
            "errors": 602 - 3,
            "error_kinds": {"http_401": 599 - 2, "ReadTimeout": 2},
        }
    )
    scenario.series = [ok, failed]
    return result


def test_the_error_kinds_per_request_are_in_the_console_summary_and_html(
    result_path: Callable[[str], Path],
) -> None:
    result = _with_401s(load_result(result_path("fail")))
    expected = "84 % errors (599 of 716): 401 \u00d7 597, ReadTimeout \u00d7 2"
    assert expected in _console(result)
    assert f"- `GET /items`: {expected}" in render_markdown(result)
    assert expected in unescape(render_html(result))


def test_an_invalid_runs_kpis_are_not_judged_not_failed(
    result_path: Callable[[str], Path],
) -> None:
    result = load_result(result_path("invalid"))
    scenario = result.scenarios[0]
    scenario.kpis[1] = scenario.kpis[1].model_copy(update={"passed": False, "status": "fail"})
    table = _console(result)
    kpi_lines = [line for line in table.splitlines() if "during" in line]
    assert kpi_lines
    assert all("not judged" in line for line in kpi_lines), table
    assert "FAIL" not in table.replace("INVALID", "")
    assert "⚠️ not judged" in render_markdown(result)
    assert ">not judged<" in render_html(result)


def test_no_seed_reads_not_set(result_path: Callable[[str], Path]) -> None:
    result = load_result(result_path("pass"))
    result.run.seed = None
    assert "seed `not set`" in render_markdown(result)
    html = render_html(result)
    assert "None" not in html
    assert "seed not set" in html


def test_a_margin_against_a_bound_says_so_and_insufficient_has_none(
    result_path: Callable[[str], Path],
) -> None:
    result = load_result(result_path("fail"))
    scenario = result.scenarios[0]
    zero = scenario.kpis[2].model_copy(
        update={"measured": 0.0, "threshold": 1.0, "margin": -0.11, "comparator": "<"}
    )
    scenario.kpis[2] = zero
    text = render_markdown(result)
    assert "\u22120.11% (of the upper bound 1.11%)" in text
    scenario.kpis[2] = zero.model_copy(
        update={"status": "insufficient", "samples": 90, "needed": 268}
    )
    lines = render_markdown(result).splitlines()
    row = next(line for line in lines if line.startswith("|") and "error_rate" in line)
    assert row.rstrip(" |").endswith("n/a"), row


def test_the_users_setup_time_is_in_the_summary_and_html(
    result_path: Callable[[str], Path],
) -> None:
    result = load_result(result_path("pass"))
    generator = result.scenarios[0].generator
    assert generator is not None
    line = "set-up: 60 users of Mix_mix_1 ready in 0.4 s, 1 log-in(s) shared (per_worker)"
    generator.mix_setup = [line]
    assert f"`{result.scenarios[0].name}` {line}" in render_markdown(result)
    assert line in unescape(render_html(result))
