"""Reports print a small threshold as written (not "< 0 ms") and each scenario's own seed
(not the first scenario's) in the JUnit suites, the HTML banner and the Markdown (issue 23)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from html import unescape
from pathlib import Path

from reports.html import render_html
from reports.junit import render_junit
from reports.load import load_result
from reports.markdown import render_markdown
from reports.model import RunResult


def _small_threshold(result: RunResult) -> RunResult:
    first = result.scenarios[0]
    kpi = first.kpis[0].model_copy(update={"threshold": 0.001, "unit": "ms", "passed": False})
    scenario = first.model_copy(update={"kpis": [kpi, *first.kpis[1:]]})
    return result.model_copy(update={"scenarios": [scenario, *result.scenarios[1:]]})


def _seeded(result: RunResult, seeds: list[int]) -> RunResult:
    scenarios = [
        s.model_copy(update={"scenario": {**(s.scenario or {}), "seed": seed}})
        for s, seed in zip(result.scenarios, seeds, strict=True)
    ]
    return result.model_copy(update={"scenarios": scenarios})


def test_a_small_threshold_is_printed_as_written(result_path: Callable[[str], Path]) -> None:
    result = _small_threshold(load_result(result_path("fail")))
    for text in (unescape(render_html(result)), render_junit(result), render_markdown(result)):
        assert "&lt; 0.001 ms" in text or "< 0.001 ms" in text
        assert "required < 0 ms" not in text
        assert "required &lt; 0 ms" not in text


def test_each_suite_and_the_banner_carry_their_own_seed(
    result_path: Callable[[str], Path],
) -> None:
    result = _seeded(load_result(result_path("fail")), [7, 9])
    names = [s.name for s in result.scenarios]
    suites = ET.fromstring(render_junit(result)).findall("testsuite")
    seeds = {
        suite.get("name"): {p.get("name"): p.get("value") for p in suite.iter("property")}["seed"]
        for suite in suites
    }
    assert seeds == {names[0]: "7", names[1]: "9"}
    assert f"seed {names[0]} 7, {names[1]} 9" in unescape(render_html(result))
    assert f"seed `{names[0]} 7, {names[1]} 9`" in render_markdown(result)
