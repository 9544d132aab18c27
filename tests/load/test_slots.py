"""Too few slots for a healthy SUT is INVALID, not FAIL: a fixed 200 ms endpoint at 100 rps
needs 20 requests in flight (Little's law); with 10 slots the harness's own queue makes the
latency. Tickets still queued at the stop are errors under their user class."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from load.conftest import Server

pytestmark = [pytest.mark.scenario, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]

SCENARIO = """\
name: slots
target: {{target_url: "{url}", upstreams: {{db: "{address}"}}}}
load:
  users: [ping]
  concurrency: 10
  rate: [{{rps: 100, hold_s: 6s}}]
  drain_s: 2s
kpis:
  - p95(GET /ping) < 400ms during baseline   # the endpoint's own 200 ms holds it
"""


def test_too_few_slots_for_a_healthy_sut_is_invalid_not_fail(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    """Fails on the old code: exit 1 (the KPI read the harness's queue as the SUT's latency)."""
    server = http_server(delay_ms=200)
    scenario = tmp_path / "slots.yaml"
    scenario.write_text(SCENARIO.format(url=server.url, address=server.url.split("//")[1]))
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "chaosgate", "run", str(scenario), "--out", str(out)],
        cwd=tmp_path, env=os.environ | {"PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    [result_file] = out.glob("*/result.json")
    [result] = json.loads(result_file.read_text())["scenarios"]
    reason = result["invalid_reason"]
    found = re.search(r"too few slots: (\d+) needed by Little's law, 10 given", reason)
    assert found, reason
    assert 20 <= int(found.group(1)) <= 24, reason
    assert result["generator"]["slots_needed"] == int(found.group(1))
    # what was still queued when the drain ended is an error of its user class
    queued = [b for b in result["series"] if b["name"] == "PingUser (queued at stop)"]
    assert queued, {b["name"] for b in result["series"]}
    assert all(b["errors"] == b["count"] > 0 for b in queued)
    assert {k for b in queued for k in b["error_kinds"]} == {"queued_at_stop"}


OVERLOADED = """\
name: overloaded
target: {{target_url: "{url}", upstreams: {{db: "{address}"}}}}
load:
  users: [ping]
  concurrency: 150
  rate: [{{rps: 150, hold_s: 6s}}]
  warmup_s: 1s
  drain_s: 1s
  host_busy_percent: 400  # the service sleeps (no CPU)
kpis:
  - p95(GET /ping) < 200ms during baseline   # 5 of its 40 ms service times
"""


def test_an_overloaded_sut_that_starves_the_slots_is_a_fail(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    """A service of 50 rps (2 x 40 ms) offered 150 rps: its own queue grows, its service time
    from the real send passes the 200 ms bound, and the 150 slots starve because of it. Fails
    on the old code: exit 3, "too few slots" (CI saw it in capacity steps above the knee).
    Little's law calls 150 slots too few only once the median service time passes 1 s: at
    100 rps of capacity (4 workers) the queue barely got there in 6 s (the problem was missing
    in 1 of 3 runs, 903 of 992 sent); at 50 rps it grows twice as fast."""
    server = start_server(str(Path(__file__).parent / "capacity_server.py"),
                          "--workers", "2", "--service-ms", "40")  # fmt: skip
    scenario = tmp_path / "overloaded.yaml"
    scenario.write_text(OVERLOADED.format(url=server.url, address=server.url.split("//")[1]))
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "chaosgate", "run", str(scenario), "--out", str(out)],
        cwd=tmp_path, env=os.environ | {"PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=240, check=False,
    )  # fmt: skip
    [result_file] = out.glob("*/result.json")
    [result] = json.loads(result_file.read_text())["scenarios"]
    generator = result["generator"]
    assert generator["service_p50_ms"]["GET /ping"] > 200, generator
    assert any(p.startswith("too few slots") for p in generator["load_problems"]), generator
    assert done.returncode == 1, done.stdout + done.stderr + str(result["invalid_reason"])
    assert result["status"] == "fail"
