"""The user's own load (a locustfile class, a request mix) driven open-model through real Locust
worker processes against a small local service; user set-up before the schedule; a user
class that raises reported at once; runs from another directory.

Each run lasts a few seconds at a modest rate: the shared 2-core machine stays usable.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from load.conftest import Server
from scenarios.load import LoadOutcome, LoadPlan, LoadRun

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
SERVER = str(HERE / "user_server.py")

LOCUSTFILE = """
from locust import HttpUser, task, between


class Shop(HttpUser):
    wait_time = between(1, 2)  # replaced by the schedule: one task per ticket

    def on_start(self):
        self.client.post("/login", json={"user": "u"}, name="login")
        self.logged_in = True

    @task(3)
    def browse(self):
        assert self.logged_in
        self.client.get("/catalog", name="GET /catalog")

    @task
    def basket(self):
        self.client.get("/basket")
"""

MIX = """\
requests:
  - name: POST /items
    method: POST
    path: /items
    headers: {X-Tenant: demo}
    json: {name: "item-{{ random_int(1, 1000000) }}"}
    capture: {item_id: id}
    expect: [201]
  - name: GET /items/{id}
    path: /items/{{ item_id }}
    weight: 4
  - name: GET /items/{random}
    path: /items/{{ random_int(900000, 900010) }}
    expect: [200, 404]
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _run(plan: LoadPlan, server: Server, out: Path, stall_at_s: float | None = None) -> Any:
    run = LoadRun(plan, server.url, time.time(), out, progress=False).start()
    window = None
    if stall_at_s is not None:
        deadline = time.time() + 30
        while run.latest_second() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(stall_at_s)
        window = server.get("/_stall?ms=1000")
    return run.wait(), window


def _log(server: Server) -> list[list[Any]]:
    requests: list[list[Any]] = server.get("/_log")["requests"]
    return requests


def _assert_schedule_held(outcome: LoadOutcome, expected: int) -> None:
    health = outcome.generator
    assert health.valid, health.reason
    assert health.sent == health.scheduled == expected
    assert outcome.count() == expected
    # sends that waited for a user busy on the stall count from their intended time


def test_locustfile_class_runs_open_model_with_its_setup_before_the_schedule(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    # 20 logins of 400 ms each: before the fix they overlapped the schedule's first 0.4 s
    server = start_server(SERVER, "--setup-delay-ms", "400")
    path = _write(tmp_path, "shop.py", LOCUSTFILE)
    plan = LoadPlan(
        users=[f"{path}:Shop"],
        rate=[{"rps": 40, "hold_s": 4}],
        arrival="constant",
        concurrency=20,
        tolerance_ms=150,  # at the stall's end 20 responses and 20 queued sends land at once
    )
    outcome, window = _run(plan, server, tmp_path / "out", stall_at_s=1.0)
    _assert_schedule_held(outcome, 160)
    assert {b.name for b in outcome.series} == {"GET /catalog", "/basket"}  # login: not load
    log = _log(server)
    logins = [r for r in log if r[3] == "/login"]
    scheduled = [r for r in log if r[3] != "/login"]
    assert len(logins) == 20
    assert len(scheduled) == 160
    assert max(r[1] for r in logins) <= min(r[0] for r in scheduled)  # set-up done before t0
    # the stall (1 s) is in the latency, counted from the intended send; the rest is fast
    stall_ms = (window["end"] - window["start"]) * 1000
    assert outcome.max_ms() >= stall_ms * 0.9
    assert outcome.percentile_ms(50) < 100


def test_request_mix_runs_open_model_with_captures_and_expected_statuses(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = start_server(SERVER)
    mix = _write(tmp_path, "mix.yaml", MIX)
    plan = LoadPlan(
        users=[str(mix)],
        rate=[{"rps": 40, "hold_s": 4}],
        arrival="constant",
        concurrency=60,
        tolerance_ms=150,  # as above: the stall's end is a burst for the worker
    )
    outcome, window = _run(plan, server, tmp_path / "out", stall_at_s=1.0)
    _assert_schedule_held(outcome, 160)
    names = {b.name for b in outcome.series}
    assert names == {"POST /items", "GET /items/{id}", "GET /items/{random}"}
    assert sum(b.errors for b in outcome.series) == 0  # the 404s were expected
    log = _log(server)
    posts = [r for r in log if r[2] == "POST"]
    assert posts
    assert all(r[4] == "demo" for r in posts)
    created = {f"/items/{n}" for n in range(1, len(posts) + 1)}
    reads = [r[3] for r in log if r[2] == "GET" and not r[3].startswith("/items/9000")]
    assert reads
    assert set(reads) <= created
    stall_ms = (window["end"] - window["start"]) * 1000
    assert outcome.max_ms() >= stall_ms * 0.9
    assert outcome.percentile_ms(50) < 100


def test_an_unexpected_status_counts_as_an_error(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = start_server(SERVER)
    mix = _write(tmp_path, "mix.yaml", "requests:\n  - {path: /items/77, expect: [200]}\n")
    plan = LoadPlan(users=[str(mix)], rate=[{"rps": 20, "hold_s": 1}], arrival="constant")
    outcome, _ = _run(plan, server, tmp_path / "out")
    assert outcome.count() == 20
    assert sum(b.errors for b in outcome.series) == 20


def test_shipped_user_setup_finishes_before_the_schedule(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    """ApiUser's on_start makes an item: 20 slow set-up POSTs (500 ms). Before the fix the
    schedule began while they ran; its first sends waited for a user (~500 ms late)."""
    server = start_server(SERVER, "--setup-delay-ms", "500", "--slow-posts", "20")
    plan = LoadPlan(users=["api"], rate=[{"rps": 40, "hold_s": 2}], concurrency=20, seed=3)
    outcome, _ = _run(plan, server, tmp_path / "out")
    assert outcome.generator.valid, outcome.generator.reason
    assert outcome.max_ms() < 300
    assert outcome.generator.slot_starved == 0


@pytest.mark.parametrize(
    ("where", "workers"),
    [("task", 1), ("on_start", 1), ("import", 1), ("task", 2), ("on_start", 2)],
)
def test_a_user_class_that_raises_is_reported_at_once_with_its_error(
    start_server: Callable[..., Server], tmp_path: Path, where: str, workers: int
) -> None:
    server = start_server(SERVER)
    raise_line = "raise RuntimeError('boom-4711')"
    body = {
        "task": f"    @task\n    def t(self):\n        {raise_line}\n",
        "on_start": f"    def on_start(self):\n        {raise_line}\n\n"
        "    @task\n    def t(self):\n        self.client.get('/x')\n",
        "import": f"    @task\n    def t(self):\n        pass\n\n\n{raise_line}\n",
    }[where]
    path = tmp_path / "bad.py"
    path.write_text(f"from locust import HttpUser, task\n\n\nclass Bad(HttpUser):\n{body}")
    plan = LoadPlan(
        users=[f"{path}:Bad"], rate=[{"rps": 20, "hold_s": 30}], concurrency=5, workers=workers
    )
    run = LoadRun(plan, server.url, time.time(), tmp_path / "out", progress=False).start()
    began = time.monotonic()
    try:
        failure = None
        while failure is None and time.monotonic() - began < 20:
            failure = run.failure()
            time.sleep(0.1)
        took = time.monotonic() - began
    finally:
        run.stop()
    assert failure is not None
    assert "RuntimeError: boom-4711" in failure
    assert str(path) in failure  # where: the file (and line)
    assert "load-local.log" in failure or "load-master.log" in failure
    assert took < 8, took  # worker start-up (import Locust ~1 s) + a flush, not a 60 s deadline


def test_a_relative_out_from_another_directory(
    http_server: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the fix the worker (cwd: the checkout) could not find its relative plan/out."""
    server = http_server()
    monkeypatch.chdir(tmp_path)
    plan = LoadPlan(users=["ping"], rate=[{"rps": 20, "hold_s": 1}], arrival="constant")
    outcome = LoadRun(plan, server.url, time.time(), Path("reports/runs"), progress=False)
    result = outcome.start().wait()
    assert result.generator.valid, result.generator.reason
    assert result.count() == 20
    assert (tmp_path / "reports/runs/load-records.jsonl").exists()


def test_distributed_workers_run_the_users_own_classes_after_their_setup(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    """Workers learn the user's classes from the plan; the master starts the schedule only
    once every worker's users finished their set-up."""
    server = start_server(SERVER, "--setup-delay-ms", "300")
    shop = _write(tmp_path, "shop.py", LOCUSTFILE)
    mix = _write(tmp_path, "mix.yaml", MIX)
    plan = LoadPlan(
        users=[f"{shop}:Shop", str(mix)],
        rate=[{"rps": 40, "hold_s": 2}],
        arrival="constant",
        concurrency=10,
        workers=2,
        tolerance_ms=100,
    )
    outcome, _ = _run(plan, server, tmp_path / "out")
    _assert_schedule_held(outcome, 80)
    assert {b.name for b in outcome.series} >= {"GET /catalog", "POST /items"}
    log = _log(server)
    logins = [r for r in log if r[3] == "/login"]
    assert len(logins) == 5  # 10 users by weight: 5 Shop, 5 of the mix, over 2 workers
    assert max(r[1] for r in logins) <= min(r[0] for r in log if r[3] != "/login")


def _scenario_run(tmp_path: Path, users: list[str]) -> Any:
    from types import SimpleNamespace

    from chaosgate.settings import load_settings
    from scenarios.loader import scenario_from_data
    from scenarios.runner import ScenarioRun

    scenario = scenario_from_data(
        {
            "name": "own",
            "load": {"users": users, "rate": [{"rps": 5, "hold_s": 30}]},
            "kpis": ["error_rate(*) < 1%"],
        }
    )
    stack = SimpleNamespace(sut_url="http://127.0.0.1:9", sut_direct_url="http://127.0.0.1:9",
                            signals=None, dependencies=())  # fmt: skip
    return ScenarioRun(stack, scenario, load_settings(), tmp_path / "run", progress=False)  # type: ignore[arg-type]


@pytest.mark.parametrize("cause", ["worker dies", "set-up raises"])
def test_the_scenario_run_reports_the_load_generators_own_error_at_once(
    tmp_path: Path, cause: str
) -> None:
    """Before: "the load generator sent nothing before the start-up deadline", the cause only
    in load-local.log (a dead worker: at once; a raising class: after the 60 s deadline)."""
    from chaosgate.errors import RunInvalid

    users, said = ["ping"], "ImportError: no module named frobnicate"
    if cause == "set-up raises":
        path = tmp_path / "bad.py"
        path.write_text(
            "from locust import HttpUser, task\n\n\nclass Bad(HttpUser):\n"
            "    def on_start(self):\n        raise ValueError('login refused: 401')\n\n"
            "    @task\n    def t(self):\n        pass\n"
        )
        users, said = [f"{path}:Bad"], "ValueError: login refused: 401"
    run = _scenario_run(tmp_path, users)
    if cause == "worker dies":
        shim = tmp_path / "python"
        shim.write_text(f"#!/bin/sh\necho '{said}' >&2\nexit 7\n")
        shim.chmod(0o755)
        run.load.python = str(shim)
    began = time.monotonic()
    try:
        run.load.start()
        with pytest.raises(RunInvalid) as caught:
            run._align()
    finally:
        if any(p.is_running() for p in run.load.processes):
            run.load.stop()
    assert said in str(caught.value)
    assert "sent nothing" not in str(caught.value)
    assert time.monotonic() - began < 8


def test_a_tasksets_own_wait_time_does_not_pace_the_schedule(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    """Its `wait_time = constant(5)` would send 5 requests in 2 s with 5 users: the tickets
    decide instead (40)."""
    server = start_server(SERVER)
    path = _write(
        tmp_path,
        "sets.py",
        """
        from locust import HttpUser, TaskSet, constant, task


        class Browse(TaskSet):
            wait_time = constant(5)

            @task
            def page(self):
                self.client.get("/page", name="GET /page")


        class Visitor(HttpUser):
            tasks = [Browse]
        """,
    )
    plan = LoadPlan(
        users=[f"{path}:Visitor"], rate=[{"rps": 20, "hold_s": 2}], arrival="constant",
        concurrency=5, tolerance_ms=100,
    )  # fmt: skip
    outcome, _ = _run(plan, server, tmp_path / "out")
    _assert_schedule_held(outcome, 40)
    assert {b.name for b in outcome.series} == {"GET /page"}
