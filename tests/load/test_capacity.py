"""`chaosgate capacity`: bad input is exit 2 before any stack starts. The search end to end on a
service of known capacity (the knee within +-25 %, the steps an ordinary result.json) is in
test_capacity_kpi.py, whose two searches also show the capacity KPI and compare."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from load.capacity_server import SCENARIO

pytestmark = [pytest.mark.scenario, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]


def _capacity(scenario: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosgate", "capacity", str(scenario), *args],
        cwd=scenario.parent, env=os.environ | {"PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=timeout, check=False,
    )  # fmt: skip


def _write(tmp_path: Path, url: str = "http://127.0.0.1:9", extra: str = "") -> Path:
    scenario = tmp_path / "known.yaml"
    scenario.write_text(SCENARIO.format(url=url, address=url.split("//")[1], extra=extra))
    return scenario


@pytest.mark.parametrize(
    ("args", "extra", "says"),
    [
        (["--kpi", "p95(GET /nope) < 1s during baseline"], "", "GET /nope"),
        (["--kpi", "p95(GET /ping) <"], "", "--kpi"),
        (["--during", "cut"], "", "no fault of that name"),
        (["--during", "nowhere:latency"], "", "nowhere"),
    ],
)
def test_bad_input_is_exit_2(tmp_path: Path, args: list[str], extra: str, says: str) -> None:
    done = _capacity(_write(tmp_path, extra=extra), *args, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr + done.stdout


def test_no_baseline_kpi_and_no_kpi_is_exit_2(tmp_path: Path) -> None:
    scenario = tmp_path / "whole.yaml"
    text = SCENARIO.format(url="http://127.0.0.1:9", address="127.0.0.1:9", extra="")
    scenario.write_text(text.replace(" during baseline", ""))
    done = _capacity(scenario, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--kpi" in done.stderr
