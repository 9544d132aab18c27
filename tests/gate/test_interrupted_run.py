"""Ctrl-C during `chaosgate run` still leaves its record: result.json (INVALID, "interrupted")
and the rendered report, then exit 130 (issue 16: an interrupted run left nothing to look at)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chaosgate.processes import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
# Low rate, long hold: it is still running when interrupted; light on a shared machine.
SCENARIO = """\
name: {name}
load:
  users: [api]
  rate:
    - {{rps: 5, hold_s: 120s}}
kpis:
  - error_rate(*) < 1% during baseline
"""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_writes_its_result_and_report(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """SIGTERM (a CI cancel, `timeout`) leaves the same record as Ctrl-C; the result's
    exit_code is the process's, 130 (it said 3: issue 23)."""
    for name in ("first", "second"):
        (tmp_path / f"{name}.yaml").write_text(SCENARIO.format(name=name))
    out = tmp_path / "reports"
    log = tmp_path / "run.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "300"}
    with log.open("wb") as sink:
        harness = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chaosgate",
                "run",
                "first.yaml",
                "second.yaml",
                "--backend",
                "local",
                "--out",
                str(out),
            ],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: "scenario first: running" in log.read_text(),
            what="the first scenario running",
            timeout_s=120,
        )
        harness.send_signal(stop)
        code = harness.wait(timeout=60)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
    text = log.read_text()
    assert code == 130, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    results = list(out.glob("*/result.json"))
    assert len(results) == 1, text[-3000:]
    result = json.loads(results[0].read_text())
    assert result["status"] == "invalid"
    assert result["exit_code"] == 130
    assert [(s["name"], s["status"], s["invalid_reason"]) for s in result["scenarios"]] == [
        ("first", "invalid", "interrupted"),
        ("second", "invalid", "interrupted before it started"),
    ]
    assert (results[0].parent / "report.html").is_file()
