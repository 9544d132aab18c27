"""Capacity as a KPI and `chaosgate compare` on two capacity searches, end to end on a service
of known capacity (tests/load/capacity_server.py: workers / service time; the search finds it
within +-25 %). The same scenario,
`capacity(GET /ping) >= 80rps`, searched on 4 workers x 40 ms (100 rps) holds; on 2 workers
(50 rps, the SUT weakened in the property the KPI guards) it fails, exit 1. Comparing the two
real capacity.json files flags the drop (exit 1) one way and not the other (exit 0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from load.capacity_server import SCENARIO
from load.conftest import HERE, Server

pytestmark = [pytest.mark.scenario, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
SERVICE_MS = 40.0
FLOOR_RPS = 80  # 4 workers: 100 rps holds it; 2 workers: 50 rps cannot

CAPACITY_KPI = f"  - capacity(GET /ping) >= {FLOOR_RPS}rps   # judged by `chaosgate capacity`\n"


def _chaosgate(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosgate", *args], cwd=cwd,
        env=os.environ | {"PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def _search(start_server: Callable[..., Server], tmp_path: Path, workers: int) -> tuple[subprocess.CompletedProcess[str], Path]:  # fmt: skip
    server = start_server(str(HERE / "capacity_server.py"), "--workers", str(workers),
                          "--service-ms", str(SERVICE_MS))  # fmt: skip
    scenario = tmp_path / f"known-{workers}.yaml"
    address = server.url.split("//")[1]
    scenario.write_text(SCENARIO.format(url=server.url, address=address, extra=CAPACITY_KPI))
    out = tmp_path / f"out-{workers}"
    done = _chaosgate(tmp_path, "capacity", str(scenario), "--min-rps", "25", "--step-s", "5",
                      "--resolution", "0.2", "--out", str(out))  # fmt: skip
    [run_dir] = out.iterdir()
    return done, run_dir


def _record(run_dir: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((run_dir / "capacity.json").read_text())
    return record


def test_capacity_kpi_fails_on_fewer_workers_and_compare_flags_the_drop(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    healthy, healthy_dir = _search(start_server, tmp_path, workers=4)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    record = _record(healthy_dir)
    assert record["max_held"], healthy.stdout  # the search stops at the KPI's N: 80 held
    assert record["knee_rps"] == FLOOR_RPS
    [check] = record["capacity_kpis"]
    assert check["status"] == "pass", check

    weak, weak_dir = _search(start_server, tmp_path, workers=2)
    assert weak.returncode == 1, weak.stdout + weak.stderr
    record = _record(weak_dir)
    assert record["concluded"], weak.stdout
    knee = record["knee_rps"]  # the known capacity, 2 workers / 40 ms = 50 rps, is found
    assert 0.75 * 50 <= knee <= 1.25 * 50, weak.stdout
    assert "knee:" in weak.stdout
    # the steps are the scenarios of an ordinary result, each with its rate
    result = json.loads((weak_dir / "result.json").read_text())
    steps = [s for s in result["scenarios"] if "-settle" not in s["name"]]
    assert f"{knee:g}rps" in {s["name"].split("-")[1] for s in steps}
    assert len(steps) == len(record["steps"])
    # after a failed step, the next one waits for the SUT to drain its backlog (probes at the
    # lowest rate, in the record too): CI once judged every later step on that backlog
    names = [s["name"] for s in result["scenarios"]]
    first_fail = next(i for i, s in enumerate(result["scenarios"]) if s["status"] != "pass")
    if first_fail + 1 < len(names):
        assert "-settle" in names[first_fail + 1], names
        assert "settling after" in weak.stdout
    assert (weak_dir / "capacity.svg").read_text().startswith("<?xml")
    assert (weak_dir / "junit.xml").exists()
    assert record["first_fail_rps"] <= 0.9 * FLOOR_RPS  # 50 rps capacity, +-resolution
    [check] = record["capacity_kpis"]
    assert check["status"] == "fail", check
    assert f"FAIL: capacity(GET /ping) >= {FLOOR_RPS}rps" in weak.stdout
    assert result["status"] == "fail"

    dropped = _chaosgate(tmp_path, "compare", str(healthy_dir / "result.json"),
                         str(weak_dir / "capacity.json"), timeout=60)  # fmt: skip
    assert dropped.returncode == 1, dropped.stdout + dropped.stderr
    assert "REGRESSED" in dropped.stdout
    assert "knee (baseline)" in dropped.stdout
    risen = _chaosgate(tmp_path, "compare", str(weak_dir), str(healthy_dir), timeout=60)
    assert risen.returncode == 0, risen.stdout + risen.stderr
    assert "NO REGRESSION" in risen.stdout


def test_max_rps_below_the_capacity_kpi_is_exit_2(tmp_path: Path) -> None:
    scenario = tmp_path / "known.yaml"
    scenario.write_text(SCENARIO.format(url="http://127.0.0.1:9", address="127.0.0.1:9",
                                        extra=CAPACITY_KPI))  # fmt: skip
    done = _chaosgate(tmp_path, "capacity", str(scenario), "--max-rps", "50", timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "could never be shown" in done.stderr
