"""`chaosgate capacity` end to end on a service of known capacity (tests/load/capacity_server.py:
4 servers x 40 ms = 100 rps): the knee is found within +-25 % of it, the steps are the
scenarios of an ordinary result.json, and bad input is exit 2 before any stack starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from load.conftest import HERE, Server

pytestmark = [pytest.mark.scenario, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
WORKERS, SERVICE_MS = 4, 40.0
CAPACITY = WORKERS / (SERVICE_MS / 1000)  # 100 rps

SCENARIO = """\
name: known
target: {{target_url: "{url}", upstreams: {{db: "{address}"}}}}
load:
  users: [ping]
  rate: [{{rps: 20, hold_s: 5s}}]
  warmup_s: 1s
  drain_s: 1s
  tolerance_ms: 50     # a shared 2-core machine: the search, not the generator, is under test
  late_fraction_max: 0.05
  host_busy_percent: 400  # the service sleeps (no CPU): the others' work barely moves it
kpis:
  - p95(GET /ping) < 200ms during baseline   # 5 service times: only a growing queue breaks it
  - error_rate(GET /ping) < 5% during baseline   # 5 %: a short step still has its evidence
{extra}"""


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


def test_finds_the_capacity_of_a_known_service(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = start_server(str(HERE / "capacity_server.py"), "--workers", str(WORKERS),
                          "--service-ms", str(SERVICE_MS))  # fmt: skip
    out = tmp_path / "out"
    done = _capacity(_write(tmp_path, server.url), "--min-rps", "25", "--max-rps", "400",
                     "--step-s", "5", "--resolution", "0.2", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [run_dir] = out.iterdir()
    record = json.loads((run_dir / "capacity.json").read_text())
    assert record["concluded"], record
    knee = record["knee_rps"]
    assert 0.75 * CAPACITY <= knee <= 1.25 * CAPACITY, done.stdout
    assert record["first_fail_rps"] > knee
    assert "p95(GET /ping)" in record["broke"] or "error_rate" in record["broke"]
    # the steps are the scenarios of an ordinary result, each with its rate
    result = json.loads((run_dir / "result.json").read_text())
    steps = [s for s in result["scenarios"] if "-settle" not in s["name"]]
    rates = {s["name"].split("-")[1] for s in steps}
    assert f"{knee:g}rps" in rates
    assert len(steps) == len(record["steps"])
    # after a failed step, the next one waits for the SUT to drain its backlog (probes at the
    # lowest rate, in the record too): CI once judged every later step on that backlog
    names = [s["name"] for s in result["scenarios"]]
    first_fail = next(i for i, s in enumerate(result["scenarios"]) if s["status"] != "pass")
    if first_fail + 1 < len(names):
        assert "-settle" in names[first_fail + 1], names
    assert "settling after" in done.stdout
    assert (run_dir / "capacity.svg").read_text().startswith("<?xml")
    assert (run_dir / "junit.xml").exists()
    assert "knee:" in done.stdout


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
