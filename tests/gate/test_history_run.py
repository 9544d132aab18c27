"""A real `chaosgate run` of a tiny scenario lands in the results store (--history, --label):
its KPI, n and verdict, its window histograms, the definition hash; importing its directory
again skips it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaosgate.cli import main
from reports.history.record import definition_hash
from reports.history.store import HISTOGRAMS, open_store
from reports.load import load_result

KPI = "p50(GET /api/items) < 2s"
SCENARIO = {
    "name": "history-tiny",
    "seed": 3,
    "load": {"users": ["api"], "rate": [{"rps": 20, "hold_s": "4s"}], "concurrency": 10,
             "tolerance_ms": 500, "late_fraction_max": 0.5},
    "kpis": [KPI],
}  # fmt: skip


def cli(args: list[str]) -> int:
    try:
        return int(main(args) or 0)
    except SystemExit as exited:
        return int(exited.code or 0)


@pytest.mark.scenario
@pytest.mark.integration
def test_a_real_run_is_remembered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario_file = tmp_path / "history-tiny.yaml"
    scenario_file.write_text(yaml.safe_dump(SCENARIO, sort_keys=False))
    store = str(tmp_path / "history.sqlite")
    code = cli(["run", str(scenario_file), "--stack", "local", "--out", str(tmp_path / "ci"),
                "--history", store, "--label", "feature-x"])  # fmt: skip
    [result_file] = (tmp_path / "ci").glob("*/result.json")
    result = load_result(result_file)
    assert code == result.exit_code == 0, capsys.readouterr()
    assert f"history: run {result.run.run_id} stored in {store}" in capsys.readouterr().err

    [point] = open_store(store).kpi_points(label="feature-x")
    kpi = result.scenarios[0].kpis[0]
    assert (point.run_id, point.expression, point.measured, point.samples, point.status) == (
        result.run.run_id, KPI, kpi.measured, kpi.samples, kpi.status)  # fmt: skip
    assert point.definition_hash == definition_hash(result.scenarios[0])
    with open_store(store).engine.connect() as conn:
        windows = {(row.window, row.request) for row in conn.execute(HISTOGRAMS.select())}
    assert ("whole", "GET /api/items") in windows

    assert cli(["history", "--history", store, "--label", "feature-x"]) == 0
    assert "history-tiny" in capsys.readouterr().out
    assert cli(["history", "--history", store, "import", str(tmp_path / "ci")]) == 0
    assert "imported 0, skipped 1" in capsys.readouterr().out


def _run(scenario_file: Path, out: Path, store: str) -> Path:
    code = cli(
        ["run", str(scenario_file), "--stack", "local", "--out", str(out), "--history", store]
    )
    [result_file] = out.glob("*/result.json")
    assert code == load_result(result_file).exit_code
    return result_file


def _judged_run(scenario_file: Path, out: Path, store: str, attempts: int = 3) -> Path | None:
    """A run with a verdict: an INVALID one (a busy CI host, a cold start) is no evidence
    either way and is run again, at most `attempts` times; None if none had a verdict."""
    for attempt in range(attempts):
        result_file = _run(scenario_file, out / f"attempt{attempt}", store)
        if load_result(result_file).status != "invalid":
            return result_file
    return None


@pytest.mark.scenario
@pytest.mark.integration
def test_a_slowed_sut_is_a_regression_against_its_history_and_healthy_runs_are_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real runs of the reference SUT: 5 healthy ones stored, then one with the test-only
    `postgres.slow_query_ms` knob (every query 100 ms slower; not part of the definition hash),
    then 3 healthy ones, each judged against the 5 stored."""
    healthy = tmp_path / "tiny.yaml"
    healthy.write_text(yaml.safe_dump(SCENARIO, sort_keys=False))
    slowed = tmp_path / "tiny-slowed.yaml"
    slowed.write_text(yaml.safe_dump(
        {**SCENARIO, "stack": {"sut_overrides": {"postgres.slow_query_ms": 100}}}, sort_keys=False))  # fmt: skip
    store = str(tmp_path / "history.sqlite")
    # only runs with a verdict are comparable (an INVALID one is stored but never judged
    # against): CI once stored 4 of 5, and the compare rightly said "against 4"
    stored = sum(_judged_run(healthy, tmp_path / f"stored{index}", store) is not None
                 for index in range(5))  # fmt: skip
    assert stored >= 3, f"{stored} of 5 healthy runs had a verdict: too few to compare against"
    capsys.readouterr()
    verdicts = []
    for name, file in [("slowed", slowed), *((f"healthy{i}", healthy) for i in range(3))]:
        result = _judged_run(file, tmp_path / name, "off")
        assert result is not None, f"{name}: INVALID 3 times"
        code = cli(["compare", "--against", "history:5", str(result), "--history", store])
        verdicts.append((name, code, capsys.readouterr().out))
    report = "\n".join(out for _, _, out in verdicts)
    assert [code for _, code, _ in verdicts] == [1, 0, 0, 0], report
    slow_out = verdicts[0][2]
    assert f"against {stored} stored run(s)" in slow_out
    assert "**REGRESSION**" in slow_out
    print(report)  # the effect sizes and confidences, for the record
