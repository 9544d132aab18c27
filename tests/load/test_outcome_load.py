"""Outcome kinds through real Locust worker processes: a request that waits until the client
gives up is a `timeout` (a locustfile class with or without catch_response, FastHttpUser or
HttpUser, and a request mix), never a CatchResponseError or a generic error; an answer that
breaks a response rule is `degraded`/`wrong` (a mix's `answer:`, a class's `response_rules`,
a catch_response mark), counted apart from errors.

Short runs at a low rate: the shared 2-core machine stays usable."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from load.conftest import Server
from scenarios.load import LoadOutcome, LoadPlan, LoadRun

pytestmark = pytest.mark.integration

SERVER = str(Path(__file__).parent / "user_server.py")

CLASSES = """
from locust import FastHttpUser, HttpUser, task


class Caught(FastHttpUser):
    @task
    def hang(self):
        with self.client.get("/hang", name="GET /hang", catch_response=True) as response:
            if response.status_code != 200:
                response.failure("not a 200")


class Plain(FastHttpUser):
    @task
    def hang(self):
        self.client.get("/hang", name="GET /hang")


class Requests(HttpUser):
    @task
    def hang(self):
        self.client.get("/hang", name="GET /hang")


class Answers(FastHttpUser):
    response_rules = {"GET /degraded": [{"header": "X-Degraded", "then": "degraded"}]}

    @task
    def degraded(self):
        self.client.get("/degraded", name="GET /degraded")
        with self.client.get("/other", name="GET /other", catch_response=True) as response:
            response.failure("wrong: the basket is empty")
"""

MIX = """\
requests:
  - name: GET /hang
    path: /hang
  - name: GET /degraded
    path: /degraded
    expect: [200]
    answer:
      - {json: part.status, equals: degraded, then: degraded}
  - name: GET /other
    path: /other
    answer:
      - {json: items, present: false, then: wrong}
"""


def _run(server: Server, tmp_path: Path, user: str) -> LoadOutcome:
    plan = LoadPlan(
        users=[user],
        rate=[{"rps": 12, "hold_s": 1}],
        arrival="constant",
        concurrency=30,
        request_timeout_s=1,
    )
    return LoadRun(plan, server.url, time.time(), tmp_path / "out", progress=False).start().wait()


def _totals(outcome: LoadOutcome, name: str) -> dict[str, int]:
    buckets = [b for b in outcome.series if b.name == name]
    kinds: dict[str, int] = {}
    for bucket in buckets:
        for kind, n in bucket.error_kinds.items():
            kinds[kind] = kinds.get(kind, 0) + n
    return {
        "count": sum(b.count for b in buckets),
        "errors": sum(b.errors for b in buckets),
        "timeouts": sum(b.timeouts for b in buckets),
        "degraded": sum(b.degraded for b in buckets),
        "wrong": sum(b.wrong for b in buckets),
        **{f"kind:{k}": n for k, n in kinds.items()},
    }


@pytest.mark.parametrize("cls", ["Caught", "Plain", "Requests"])
def test_a_client_timeout_is_a_timeout_for_a_users_own_class(
    start_server: Callable[..., Server], tmp_path: Path, cls: str
) -> None:
    server = start_server(SERVER)
    path = tmp_path / "hang.py"
    path.write_text(textwrap.dedent(CLASSES))
    totals = _totals(_run(server, tmp_path, f"{path}:{cls}"), "GET /hang")
    assert totals["count"] == 12, totals
    assert totals["timeouts"] == totals["errors"] == totals.get("kind:timeout") == 12, totals


def test_a_class_marks_answers_by_its_rules_and_its_catch_response(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = start_server(SERVER)
    path = tmp_path / "answers.py"
    path.write_text(textwrap.dedent(CLASSES))
    outcome = _run(server, tmp_path, f"{path}:Answers")
    degraded, other = _totals(outcome, "GET /degraded"), _totals(outcome, "GET /other")
    assert (degraded["count"], degraded["degraded"], degraded["errors"]) == (12, 12, 0), degraded
    assert (other["count"], other["wrong"], other["errors"]) == (12, 12, 0), other


def test_a_mix_has_timeouts_and_marked_answers(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = start_server(SERVER)
    mix = tmp_path / "mix.yaml"
    mix.write_text(MIX)
    outcome = _run(server, tmp_path, str(mix))
    hang, degraded = _totals(outcome, "GET /hang"), _totals(outcome, "GET /degraded")
    other = _totals(outcome, "GET /other")
    assert hang["count"] > 0, hang
    assert hang["timeouts"] == hang["errors"] == hang["count"], hang
    assert degraded["count"] > 0, degraded
    assert (degraded["degraded"], degraded["errors"]) == (degraded["count"], 0), degraded
    assert other["count"] > 0, other
    assert other["wrong"] == other["count"], other  # {"ok": true} has no items
