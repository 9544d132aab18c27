"""The search loop of `chaosgate explore` with a fake runner (no stack): which scenarios fail
is the fake's rule, so confirm / flaky / shrink / the written file are checked as pure logic."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from reports.model import KpiVerdict, ScenarioResult
from scenarios.explore_report import record, render_html
from scenarios.explore_run import Explorer
from scenarios.explore_scenario import explore_plan, explore_space
from scenarios.loader import resolve
from scenarios.runner import invalid_result
from scenarios.schema import Scenario

pytestmark = pytest.mark.unit
COMBO = Path(__file__).with_name("data") / "explore-combo.yaml"


def _targets(scenario: Scenario) -> list[set[str]]:
    """Per step, the targets it holds (an overlap step: its parts')."""
    found = []
    for step in scenario.faults:
        parts = step.attributes.get("parts", {})
        found.append({p["target"] for p in parts.values()} if parts else {step.target})
    return found


def _verdict(scenario: Scenario, failing: bool) -> ScenarioResult:
    base = invalid_result(scenario, "")
    kpis = [
        KpiVerdict(
            expression=s.expression,
            window="whole",
            measured=None,
            threshold=30,
            comparator="<",
            unit="s",
            passed=not (failing and s.expression.startswith("recovery(")),
        )
        for s in scenario.kpis
    ]
    return base.model_copy(update={"status": "fail" if failing else "pass", "invalid_reason": None, "kpis": kpis})  # fmt: skip


def _explorer(tmp_path: Path, fails: object, budget_s: float = 3600, most: int = 0) -> Explorer:
    [base] = resolve([str(COMBO)], None)
    space = explore_space(base, ["timeout", "down"], ["redis", "postgres"], max_faults=2,
                          min_for_s=3, max_for_s=6)  # fmt: skip

    def run(scenario: Scenario) -> ScenarioResult:
        assert callable(fails)
        return _verdict(scenario, bool(fails(scenario)))

    return Explorer(explore_plan(base), space, 1, budget_s, run, tmp_path, max_findings=1, max_schedules=most,
                    say=lambda line: None)  # fmt: skip


def test_a_repeating_failure_is_shrunk_to_two_faults_and_written(tmp_path: Path) -> None:
    search = _explorer(
        tmp_path, lambda s: any({"redis", "postgres"} <= t for t in _targets(s))
    ).explore()
    [finding] = search.findings
    assert finding.confirmed
    assert finding.shrunk is not None
    assert sorted(f.target for f in finding.shrunk.minimal.faults) == ["postgres", "redis"]
    assert finding.scenario_file is not None
    [written] = resolve([str(finding.scenario_file)], None)
    assert {"redis", "postgres"} <= _targets(written)[0]
    assert written.stack.sut_overrides == {
        "postgres.leak_on_error_in_cache_outage": True, "postgres.pool.min_size": 1,
        "postgres.pool.max_size": 1,
    }  # fmt: skip
    data = record(search, "chaosgate explore x")
    assert data["recovery_s"] == 30  # the plan's promise, stated in the record
    assert data["findings"][0]["minimal_faults"] == 2
    assert data["coverage"]["cells_covered"] >= 1
    assert "finding 1" in render_html(data)
    assert search.stopped_by == "1 finding(s)"


def test_a_failure_that_does_not_repeat_is_flaky_not_a_finding(tmp_path: Path) -> None:
    calls = itertools.count()
    search = _explorer(tmp_path, lambda s: next(calls) == 0, most=5).explore()
    assert search.stopped_by == "5 schedule(s)"
    assert search.findings
    assert not any(f.confirmed for f in search.findings)
    data = record(search, "x")
    assert len(data["flaky"]) == 1
    assert data["findings"] == []
    assert not (tmp_path / "findings").exists()


def test_the_budget_bounds_the_search(tmp_path: Path) -> None:
    search = _explorer(tmp_path, lambda s: False, budget_s=0).explore()
    assert search.explored == []
    assert search.stopped_by == "budget"


def test_a_run_invalid_for_evidence_is_not_run_again(tmp_path: Path) -> None:
    """Too few samples is the schedule's own doing (its faults start before the steady KPIs
    have their evidence): a second run gets the same INVALID. The healthy reference search
    re-ran 17 such schedules for nothing. A busy host's INVALID is still run once more."""
    [base] = resolve([str(COMBO)], None)
    space = explore_space(base, ["timeout"], ["redis", "postgres"], max_faults=1,
                          min_for_s=3, max_for_s=6)  # fmt: skip
    reasons = itertools.cycle(["insufficient evidence: p95(x) (9 of 10 samples)",
                               "host busy: 130 % of a core taken by other processes"])  # fmt: skip

    def run(scenario: Scenario) -> ScenarioResult:
        return invalid_result(scenario, next(reasons))

    explorer = Explorer(explore_plan(base), space, 1, 3600, run, tmp_path, max_schedules=2,
                        say=lambda line: None)  # fmt: skip
    search = explorer.explore()
    names = [a.name for a in search.attempts]
    assert names[0].endswith("-s0")
    assert names[1].endswith("-s1"), names  # the evidence INVALID was not repeated
    assert names[2].endswith("-s1-again"), names  # the busy host's was


def test_a_minimal_schedule_that_does_not_fail_again_is_not_the_finding(tmp_path: Path) -> None:
    """The shrink keeps a change on ONE failing run, so it walks to the edge of the failing
    region, where a schedule fails only some of the time (CI: the written minimal schedule
    PASSED under `chaosgate run`). The minimal is run again before it is written; one that
    passes once is not the finding: the last kept schedule before it that fails every
    re-run is. Here schedules whose faults last under 5 s fail only on their first run."""
    first_runs: set[str] = set()

    def fails(scenario: Scenario) -> bool:
        both = any({"redis", "postgres"} <= t for t in _targets(scenario))
        shortest = min(_fault_lengths(scenario))
        if not both:
            return False
        if shortest >= 5:
            return True
        seen = scenario.description in first_runs  # the schedule, as the scenario states it
        first_runs.add(scenario.description)
        return not seen

    search = _explorer(tmp_path, fails).explore()
    [finding] = search.findings
    assert finding.shrunk is not None
    assert min(f.for_s for f in finding.shrunk.minimal.faults) < 5  # the edge the shrink reached
    assert finding.verified is not None
    assert min(f.for_s for f in finding.verified.faults) >= 5, finding.verified.describe()
    assert finding.reproduced == (finding.verify_runs, finding.verify_runs)
    [written] = resolve([str(finding.scenario_file)], None)
    assert min(_fault_lengths(written)) >= 5
    data = record(search, "x")
    assert data["findings"][0]["minimal"] == finding.verified.describe()
    assert data["findings"][0]["shrunk_to"] == finding.shrunk.minimal.describe()
    assert any(a["role"] == "verify" and a["status"] == "pass" for a in data["attempts"])


def test_a_failure_no_schedule_of_which_fails_again_is_not_a_finding(tmp_path: Path) -> None:
    calls = itertools.count()
    # the original fails twice (explore, confirm), then nothing fails again
    search = _explorer(tmp_path, lambda s: next(calls) < 2, most=3).explore()
    [finding] = search.findings
    assert finding.confirmed
    assert finding.verified is None
    assert not finding.found
    data = record(search, "x")
    assert data["findings"] == []
    assert data["flaky"][0]["verify"], data["flaky"]
    assert not (tmp_path / "findings").exists()


def _fault_lengths(scenario: Scenario) -> list[float]:
    found = []
    for step in scenario.faults:
        parts = step.attributes.get("parts", {})
        found += [p["for_s"] for p in parts.values()] if parts else [step.for_s]
    return found
