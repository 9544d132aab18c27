"""`chaosgate replay RESULT.json`: a result carries its scenario as validated, replay runs it
again here and reproduces the verdicts, a planted failure included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from chaosgate.cli import main
from chaosgate.errors import EXIT_BAD_INPUT, EXIT_KPI_FAILED
from reports.load import load_result
from reports.model import KpiVerdict, RunMetadata, RunResult, ScenarioResult
from scenarios.loader import load_scenario, scenario_from_data, shipped_scenarios
from scenarios.replay import side_by_side

REPORTS = Path(__file__).resolve().parents[1] / "reports"
IMPOSSIBLE = "p50(GET /api/items) < 1us during baseline"  # the planted failure
HOLDS = [
    "p50(GET /api/items) < 2s during baseline",  # p50: judged on 10 samples (minimum evidence)
    "p50(GET /api/items) >= 40ms during fault:pg-slow",
]
SCENARIO = {
    "name": "replay-me",
    "seed": 7,
    # a replay test, not a generator test: a busy machine's late sends must not void it
    "load": {"users": ["api"], "rate": [{"rps": 40, "hold_s": "10s"}], "concurrency": 30,
             "tolerance_ms": 500, "late_fraction_max": 0.5},
    "faults": [{"name": "pg-slow", "at_s": 4, "for_s": 3, "target": "postgres", "fault": "latency",
                "attributes": {"latency_ms": 60}}],
    "kpis": [*HOLDS, IMPOSSIBLE],
    "end_on_recovery": False,
}  # fmt: skip


def run_cli(args: list[str]) -> int:
    try:
        return int(main(args) or 0)
    except SystemExit as exited:
        return int(exited.code or 0)


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
def test_a_recorded_scenario_validates_back_to_itself(name: str) -> None:
    scenario = load_scenario(shipped_scenarios()[name])
    recorded = json.loads(json.dumps(scenario.model_dump(mode="json")))  # as result.json holds it
    assert scenario_from_data(recorded) == scenario


@pytest.mark.unit
def test_a_result_without_its_scenario_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run_cli(["replay", str(REPORTS / "result_pass.json"), "--stack", "local"]) == EXIT_BAD_INPUT
    )
    assert "carries no scenario definition" in capsys.readouterr().err


def _result(*verdicts: tuple[str, bool]) -> RunResult:
    kpis = [KpiVerdict(expression=e, window="whole", measured=1.0, threshold=1.0, comparator="<",
                       unit="ms", passed=p) for e, p in verdicts]  # fmt: skip
    scenario = ScenarioResult(name="s", status="pass", t0=0.0, duration_s=1.0, kpis=kpis)
    base = load_result(REPORTS / "result_pass.json").run
    meta = RunMetadata(**{**base.model_dump(), "run_id": "r"})
    return RunResult(run=meta, status="pass", exit_code=0, scenarios=[scenario])


@pytest.mark.unit
def test_side_by_side_flags_a_verdict_that_changed() -> None:
    then = _result(("a", True), ("b", False), ("c", True))
    now = _result(("a", True), ("b", True))
    rows = {row.expression: row.same for row in side_by_side(then, now)}
    assert rows == {"a": True, "b": False, "c": False}  # c: no verdict now is not reproduced


@pytest.mark.unit
def test_side_by_side_tells_insufficient_from_fail() -> None:
    """INVALID (too little evidence) and FAIL are different verdicts: not "the same"."""
    then = _result(("a", False), ("b", False))
    now = _result(("a", False), ("b", False))
    then.scenarios[0].kpis[0].status = "insufficient"
    now.scenarios[0].kpis[0].status = "fail"
    now.scenarios[0].kpis[1].status = then.scenarios[0].kpis[1].status = "fail"
    rows = {row.expression: row.same for row in side_by_side(then, now)}
    assert rows == {"a": False, "b": True}


@pytest.mark.scenario
@pytest.mark.integration
def test_replay_reproduces_every_verdict_and_the_planted_failure(tmp_path: Path) -> None:
    scenario_file = tmp_path / "replay-me.yaml"
    scenario_file.write_text(yaml.safe_dump(SCENARIO, sort_keys=False))
    code = run_cli(["run", str(scenario_file), "--stack", "local", "--out", str(tmp_path / "ci")])
    assert code == EXIT_KPI_FAILED
    [recorded_file] = (tmp_path / "ci").glob("*/result.json")
    recorded = load_result(recorded_file)
    then = {k.expression: k.passed for k in recorded.scenarios[0].kpis}
    assert then == {HOLDS[0]: True, HOLDS[1]: True, IMPOSSIBLE: False}  # the second: the fault ran

    code = run_cli(
        ["replay", str(recorded_file), "--stack", "local", "--out", str(tmp_path / "here")]
    )
    assert code == EXIT_KPI_FAILED
    [replayed_file] = (tmp_path / "here").glob("*/result.json")
    replayed = load_result(replayed_file)
    assert replayed.scenarios[0].scenario == recorded.scenarios[0].scenario  # seed, faults, load
    assert {k.expression: k.passed for k in replayed.scenarios[0].kpis} == then
    assert all(row.same for row in side_by_side(recorded, replayed))
    assert replayed.scenarios[0].status == recorded.scenarios[0].status == "fail"
