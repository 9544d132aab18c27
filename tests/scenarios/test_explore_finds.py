"""`chaosgate explore` end to end, the issue's proof: on the reference SUT weakened so that only
Redis and Postgres faults TOGETHER break it (tests/scenarios/data/explore-combo.yaml), explore
finds a failing schedule within a small budget, confirms it, shrinks it to those two faults,
verifies the minimal one (2 more runs, both failing), and `chaosgate run` on the written scenario
FAILS the same KPI. The fault space is narrowed (--kinds timeout --targets redis,postgres), the
recovery promise is 15 s (3x the 5 s a healthy SUT takes after a Postgres fault, see
scenarios/release/pg-down.yaml: a run that never recovers lasts 15 s past its last fault, not the
plan's 30) and the budget short (3 min: both drops are tried, which shows the two faults matter;
the shrink may be cut short after them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.scenario, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("data") / "explore-combo.yaml"


def _chaosgate(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosgate", *args], cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


@pytest.mark.timeout(900)  # explore's 3-min budget + its verifying runs + one run
def test_explore_finds_shrinks_and_writes_a_scenario_that_fails_again(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _chaosgate("explore", str(SCENARIO), "--budget", "3m", "--seed", "1",
                      "--kinds", "timeout", "--targets", "redis,postgres", "--max-faults", "2",
                      "--min-for-s", "3", "--max-for-s", "6", "--max-findings", "1", "--recovery-s", "15",
                      "--stack", "local", "--out", str(out), timeout=700)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # 1: a finding
    [record_file] = out.glob("*/explore.json")
    record = json.loads(record_file.read_text())
    assert record["recovery_s"] == 15
    [finding] = record["findings"]
    assert finding["minimal_faults"] == 2, finding
    assert {"redis", "postgres"} <= set(finding["minimal"].replace(":", " ").split())
    assert any(b.startswith("recovery(") for b in finding["minimal_broke"]), finding
    assert finding["shrink_path"], "a shrink tried at least one change"
    assert finding["reproduced"] == {"failed": 2, "runs": 2}, finding
    assert (record_file.parent / "explore.html").read_text().count("finding 1") == 1
    # the written scenario, re-run as any scenario: the same KPI fails again
    written = Path(finding["scenario_file"])
    scenario = yaml.safe_load(written.read_text())
    assert scenario["seed"] == 11
    assert scenario["stack"]["sut_overrides"]["postgres.leak_on_error_in_cache_outage"] is True
    again = _chaosgate("run", str(written), "--stack", "local", "--out", str(tmp_path / "again"),
                       timeout=300)  # fmt: skip
    assert again.returncode == 1, again.stdout + again.stderr
    [result_file] = (tmp_path / "again").glob("*/result.json")
    [result] = json.loads(result_file.read_text())["scenarios"]
    failed = {k["expression"] for k in result["kpis"] if k["status"] == "fail"}
    assert any(e.startswith("recovery(") for e in failed), failed


def test_bad_input_is_exit_2_before_any_stack() -> None:
    done = _chaosgate("explore", str(SCENARIO), "--kinds", "nonsense", timeout=60)
    assert done.returncode == 2
    assert "unknown nonsense" in done.stderr
    done = _chaosgate("explore", str(SCENARIO), "--targets", "nowhere", timeout=60)
    assert done.returncode == 2
    assert "no (kind, target) pair" in done.stderr
