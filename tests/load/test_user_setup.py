"""User set-up is paced under the SUT's shed limit, counted per class, and a request never
turns into another: an API user without an item of its own is a set-up failure (counted, the
run INVALID for it), not a read of the list. A task that returns without a request is not a
late send."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from load.conftest import Server
from scenarios.load.plan import LoadPlan
from scenarios.load.run import LoadOutcome, LoadRun

pytestmark = pytest.mark.integration
SERVER = str(Path(__file__).with_name("shed_server.py"))
ITEM = "GET /api/items/{item_id}"


def _run(server: Server, out: Path, users: int = 40) -> LoadOutcome:
    plan = LoadPlan(users=["api"], rate=[{"rps": 30, "hold_s": 6}], concurrency=users, seed=5)
    return LoadRun(plan, server.url, time.time(), out, progress=False).start().wait()


def test_setup_is_paced_under_the_shed_limit_and_counted(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    """60 API users, a service that sheds POSTs beyond 10 at once. Fails on the old code:
    every user posted at once, most were refused, and those users read the list instead."""
    server = start_server(SERVER, "--shed", "10", "--post-ms", "200")
    outcome = _run(server, tmp_path / "out", users=60)
    stats = server.get("/_stats")
    assert stats["refused"] == 0, stats
    assert stats["max_in_progress"] <= 8, stats
    setup = outcome.generator.setup["ApiUser"]
    assert (setup.users, setup.failed, setup.refused) == (60, 0, 0), setup
    assert not setup.missing
    assert outcome.count(ITEM) > 0
    assert outcome.invalid_reasons() == [], outcome.invalid_reasons()


def test_a_user_without_its_item_is_a_setup_failure_never_a_list_read(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    """Every set-up POST refused. Fails on the old code: the item reads went to the list
    (GET /api/items) silently, and nothing said the set-up failed."""
    server = start_server(SERVER, "--refuse-posts")
    outcome = _run(server, tmp_path / "out", users=10)
    setup = outcome.generator.setup["ApiUser"]
    assert setup.failed == setup.users == 10
    assert setup.errors == {"POST /api/items: http_503": setup.refused}
    assert outcome.count(ITEM) == 0
    skipped = setup.missing[ITEM]
    assert skipped > 0
    # the item reads' share (2 in 11 sends) did not go to the list (3 in 11; old: 5 in 11)
    assert outcome.count("GET /api/items") / (outcome.count() + skipped) < 0.38
    reasons = " ".join(outcome.invalid_reasons())
    assert "user set-up failed (ApiUser: 10 of 10 set-up steps failed" in reasons
    assert f"{skipped} sends of {ITEM} had nothing to act on" in reasons
    # the tasks that returned without a request were on time: the generator held its schedule
    assert outcome.generator.valid, outcome.generator.reason
    assert setup.no_request == skipped


QUIET = """
import itertools
from locust import HttpUser, task

TURN = itertools.count()


class Quiet(HttpUser):
    @task
    def sometimes(self):
        if next(TURN) % 2:  # nothing to do this time: no request, on time
            return
        self.client.get("/api/health", name="GET /api/health")
"""


def test_a_task_that_sends_nothing_is_not_a_late_send(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    """Half the tasks return without a request. Fails on the old code: each counted as a
    send that started late or never, and the run was INVALID (generator behind)."""
    server = start_server(SERVER)
    path = tmp_path / "quiet.py"
    path.write_text(QUIET)
    plan = LoadPlan(users=[f"{path}:Quiet"], rate=[{"rps": 40, "hold_s": 3}], concurrency=10)
    outcome = LoadRun(plan, server.url, time.time(), tmp_path / "out", progress=False).start()
    health = outcome.wait().generator
    assert health.valid, health.reason
    assert health.late_fraction < 0.1  # the quiet half would be 0.5 (a busy host: a few late)
    quiet = health.setup["Quiet"].no_request
    assert quiet > 0
    assert quiet + health.sent == health.scheduled
