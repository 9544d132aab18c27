"""The users' set-up phase before the schedule lasts as long as it progresses: a slow set-up
that keeps getting users ready extends it (and says so), one that stalls fails with how far it
got. Both fail on the old code: it failed any set-up longer than the start-up timeout ("only
N of M users finished their set-up within 60 s"), losing the run at high rates."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chaosgate.settings import load_settings
from load.conftest import Server
from scenarios.load import LoadPlan, LoadRun

pytestmark = pytest.mark.integration

# user k of a process is ready after k steps: longer in all than the start-up timeout, never a
# whole timeout without one more user ready; from `stall_from` on they never get ready
LOCUSTFILE = """
import itertools, time
from locust import FastHttpUser, task

ORDER = itertools.count(1)


class Slow(FastHttpUser):
    def on_start(self):
        k = next(ORDER)
        time.sleep({step_s} * k if k < {stall_from} else 3600)

    @task
    def ping(self):
        self.client.get("/ping", name="GET /ping")
"""


def _run(
    server: Server, tmp_path: Path, workers: int, startup_s: float, step_s: float, stall_from: int
) -> LoadRun:
    path = tmp_path / "slow.py"
    path.write_text(textwrap.dedent(LOCUSTFILE.format(step_s=step_s, stall_from=stall_from)))
    plan = LoadPlan(
        users=[f"{path}:Slow"], rate=[{"rps": 20, "hold_s": 1}], arrival="constant",
        concurrency=6, workers=workers, tolerance_ms=100,
    )  # fmt: skip
    timeouts = load_settings().timeouts.model_copy(update={"startup_s": startup_s})
    return LoadRun(plan, server.url, time.time(), tmp_path / "out", progress=False,
                   timeouts=timeouts).start()  # fmt: skip


# 6 users: 3.6 s of set-up in one process; 3 per worker, 6 s, with room for 2 workers to connect
@pytest.mark.parametrize(("workers", "startup_s", "step_s"), [(1, 2.0, 0.6), (2, 5.0, 2.0)])
def test_a_slow_setup_that_progresses_extends_the_setup_phase(
    http_server: Callable[..., Server], tmp_path: Path, workers: int, startup_s: float,
    step_s: float,
) -> None:  # fmt: skip
    run = _run(http_server(), tmp_path, workers, startup_s, step_s, stall_from=99)
    outcome = run.wait()
    assert run.failure() is None, run.failure()
    assert outcome.generator.valid, outcome.generator.reason
    assert outcome.count("GET /ping") == 20
    said = " ".join(outcome.generator.mix_setup)
    assert f"longer than the start-up timeout ({startup_s:g} s): extended" in said, said


def test_a_setup_that_stalls_fails_saying_how_far_it_got(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    run = _run(http_server(), tmp_path, 1, 2.0, 0.6, stall_from=3)  # 2 ready, then nothing
    started = time.time()
    run.wait()
    failure = run.failure() or ""
    assert "2 of 6 users ready" in failure, failure
    assert "none got further for" in failure, failure
    assert time.time() - started < 30
