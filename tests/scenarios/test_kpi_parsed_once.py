"""A KPI is parsed when its scenario is loaded, and every later use reads the typed value
(issue 24: 15 parses while loading a 5-KPI scenario, one more at each use)."""

from __future__ import annotations

import pytest

import scenarios.schema as schema
from reports.kpi_parse import Kpi
from scenarios.loader import load_scenario, shipped_scenarios

pytestmark = pytest.mark.unit


def test_using_a_kpi_never_parses_it_again(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(shipped_scenarios()["baseline"])
    parses: list[str] = []
    from reports.kpi_parse import parse_kpi as parse

    def counted(text: str) -> Kpi:
        parses.append(text)
        return parse(text)

    monkeypatch.setattr(schema, "parse_kpi", counted)
    for _ in range(3):
        assert all(spec.kpi.text == spec.expression for spec in scenario.kpis)
    copied = scenario.model_copy()  # the runner and capacity steps copy scenarios
    assert [spec.kpi for spec in copied.kpis] == [spec.kpi for spec in scenario.kpis]
    assert parses == []
