"""Ctrl-C (or SIGTERM) during `chaosgate replay` leaves its record like `run` does: result.json
and the reports of what ran, exit_code 130 in both the file and the process (issue 23: replay
wrote nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import scenarios.orchestrator as orchestrator
from chaosgate.cli import main
from reports.load import load_result
from scenarios.loader import load_scenario, shipped_scenarios
from scenarios.orchestrator import RunInterrupted

pytestmark = pytest.mark.unit

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def test_an_interrupted_replay_writes_its_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = load_scenario(next(iter(shipped_scenarios().values())))
    recorded = load_result(REPORTS / "result_pass.json")
    first = recorded.scenarios[0].model_copy(
        update={"name": scenario.name, "scenario": scenario.model_dump(mode="json")}
    )
    recorded = recorded.model_copy(update={"scenarios": [first]})
    source = tmp_path / "recorded.json"
    source.write_text(recorded.model_dump_json())
    interrupted = recorded.model_copy(update={"status": "invalid", "exit_code": 130})

    def stopped(*_args: object, **_kwargs: object) -> None:
        raise RunInterrupted(interrupted)  # what run_all raises on Ctrl-C or SIGTERM

    monkeypatch.setattr(orchestrator, "run_all", stopped)
    with pytest.raises(SystemExit) as exited:
        main(["replay", str(source), "--out", str(tmp_path / "out"), "--stack", "local"])
    assert exited.value.code == 130
    [written] = (tmp_path / "out").glob("*/result.json")
    document = json.loads(written.read_text())
    assert document["exit_code"] == 130
    assert (written.parent / "report.html").is_file()
    notes = [e["message"] for e in document["scenarios"][0]["events"] if e["kind"] == "note"]
    assert any(note.startswith("replay of run ") for note in notes)
