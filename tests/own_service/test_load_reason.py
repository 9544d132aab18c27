"""`chaosgate load` says why its run is INVALID (not only in result.json), and a user class that
crashed is not reported as "load generator behind"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_mix_setup import start_auth_app

from reports.model import GeneratorHealth
from scenarios.load.run import invalid_reason

CRASH = """
from locust import HttpUser, task


class Crash(HttpUser):
    def on_start(self):
        raise RuntimeError("login failed: no token")

    @task
    def home(self):
        self.client.get("/")
"""


def _health(reason: str) -> GeneratorHealth:
    return GeneratorHealth(
        intended_rate=10, achieved_rate=0, scheduled=10, sent=0, max_lag_ms=0, p99_lag_ms=0,
        late_fraction=1, tolerance_ms=20, cpu_percent_max=5, workers=1, valid=False,
        reason=reason,
    )  # fmt: skip


@pytest.mark.unit
def test_a_crashed_user_class_is_not_a_generator_behind() -> None:
    crash = "user class Crash raised RuntimeError: boom in its set-up (on_start)"
    assert invalid_reason(_health(crash)) == f"load could not run as planned: {crash}"
    late = "40.0% of sends started more than 20 ms late or never while a user was free"
    assert invalid_reason(_health(late)) == f"load generator behind: {late}"
    assert invalid_reason(_health("generator CPU saturated: median 99%")).startswith(
        "load generator behind: "
    )


@pytest.mark.integration
def test_load_prints_its_invalid_reason(tmp_path: Path) -> None:
    url, app = start_auth_app(tmp_path)
    locustfile = tmp_path / "crash.py"
    locustfile.write_text(CRASH)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "chaosgate", "load", "--url", url, "--users",
             f"{locustfile}:Crash", "--duration", "2s", "--rate", "5", "--out",
             str(tmp_path / "out")],
            capture_output=True, text=True, timeout=120, env={"COLUMNS": "400", **_env()},
        )  # fmt: skip
    finally:
        app.stop(5)
    assert done.returncode == 3, done.stderr
    said = done.stdout + done.stderr
    assert "INVALID: load could not run as planned: user class Crash raised RuntimeError" in said
    assert "load generator behind" not in said


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
