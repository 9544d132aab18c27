"""The load engine against a real loopback server, through real Locust worker processes.

Tolerances are stated and generous where the shared 2-core machine makes timing noisy;
each run lasts a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chaosgate.errors import GeneratorBehind
from load.conftest import Server
from reports.hdr import decode
from scenarios.load import LoadOutcome, LoadPlan, LoadRun

pytestmark = pytest.mark.integration


def run_plan(server: Server, out: Path, **fields: Any) -> LoadOutcome:
    plan = LoadPlan(**({"users": ["ping"], "arrival": "constant"} | fields))
    return LoadRun(plan, server.url, time.time(), out).start().wait()


def test_fixed_delay_is_measured_within_tolerance(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = http_server(delay_ms=50)
    # tolerance 50 ms: CI shares 2 cores with other suites (load average ~10 measured)
    outcome = run_plan(server, tmp_path, rate=[{"rps": 100, "hold_s": 3}], tolerance_ms=50)
    assert outcome.generator.valid, outcome.generator.reason
    assert outcome.count("GET /ping") == 300
    # a 50 ms server: nothing faster. The truth is what the server really held (its timers
    # are not exact either). Never below it; above it by loopback + process wake-ups: ~1 ms on
    # a quiet machine, up to ~8 ms measured here at load average 10+, so the bound is 10 ms.
    # (`chaosgate bench` measures fidelity precisely, as a shift between two runs.)
    held_p50_ms = server.get("/_count")["held_p50_ms"]
    assert min(decode(b.histogram).get_min_value() for b in outcome.series) >= 50_000
    assert held_p50_ms <= outcome.percentile_ms(50) <= held_p50_ms + 10
    assert outcome.percentile_ms(90) <= 75


def test_stall_shows_in_p99_from_the_intended_start(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    """Open model, enough users: a 1 s stall at 200 rps delays ~200 sends, p99 and max see it."""
    server = http_server(delay_ms=1)
    # 150 ms: at the stall's end ~200 responses land at once and the worker works through them
    # (tens of ms on this shared 2-core machine); the stall itself is 1000 ms
    outcome, window = _stalled_run(server, tmp_path, concurrency=400, tolerance_ms=150)
    assert outcome.generator.valid, outcome.generator.reason
    assert outcome.generator.max_lag_ms < 300  # the latencies below are the server's, not ours
    stall_ms = (window["end"] - window["start"]) * 1000
    assert outcome.max_ms() >= stall_ms * 0.95
    assert outcome.percentile_ms(99) >= stall_ms * 0.9
    assert outcome.percentile_ms(50) < 50


def test_closed_loop_timing_would_hide_the_stall(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    """With 2 users the generator becomes a closed loop during the stall. Timing from the actual
    start (what a closed loop reports) hides the stall; timing from the intended start shows it.
    The sends that started late waited for a user busy on the slow server: that is the SUT's
    latency (the KPIs judge it), not a generator that fell behind, so the run stays VALID and
    reports them as slot-starved. (The old code made it INVALID: "late".)"""
    server = http_server(delay_ms=1)
    outcome, _ = _stalled_run(server, tmp_path, concurrency=2)
    closed_loop = decode(outcome.service_time["GET /ping"])
    closed_p99_ms = closed_loop.get_value_at_percentile(99) / 1000
    assert closed_p99_ms < 100
    assert outcome.percentile_ms(99) > 500
    assert outcome.percentile_ms(99) > 5 * closed_p99_ms
    health = outcome.generator
    assert health.valid, health.reason
    assert health.slot_starved >= 100  # ~200 sends fall due during the 1 s stall
    assert health.slot_starved_fraction > 0.1


def _stalled_run(
    server: Server, out: Path, concurrency: int, tolerance_ms: float = 20
) -> tuple[LoadOutcome, dict[str, float]]:
    plan = LoadPlan(
        users=["ping"],
        arrival="constant",
        rate=[{"rps": 200, "hold_s": 4}],
        concurrency=concurrency,
        tolerance_ms=tolerance_ms,
    )
    run = LoadRun(plan, server.url, time.time(), out, progress=False).start()
    deadline = time.time() + 30
    while run.latest_second() is None and time.time() < deadline:  # load is flowing
        time.sleep(0.05)
    window: dict[str, float] = server.get("/_stall?ms=1000")
    return run.wait(), window


def test_schedule_is_held_at_a_moderate_rate(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = http_server()
    # 50 ms: this 2-core machine is shared by parallel test runs; the rate is what is asserted
    outcome = run_plan(
        server,
        tmp_path,
        rate=[{"rps": 400, "hold_s": 3}],
        arrival="poisson",
        seed=1,
        tolerance_ms=50,
    )
    health = outcome.generator
    assert health.valid, health.reason
    assert health.sent == health.scheduled
    assert abs(health.scheduled - 1200) <= 4 * 1200**0.5  # the Poisson draw itself
    assert abs(outcome.count() - health.scheduled) <= 0.02 * health.scheduled
    assert server.get("/_count")["count"] == outcome.count()
    assert health.p99_lag_ms < health.tolerance_ms


def test_overloaded_generator_is_invalid_with_the_reason(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = http_server()
    # 4x what one worker holds (24,000-28,000 rps with the lean client, `chaosgate bench`): at
    # the 30,000 first set here it fell behind but sent every ticket within the drain
    outcome = run_plan(
        server, tmp_path, rate=[{"rps": 100_000, "hold_s": 1.5}], drain_s=1, concurrency=50
    )
    health = outcome.generator
    assert not health.valid
    assert "late or never" in (health.reason or "")
    assert health.late_fraction > 0.1
    assert health.sent < health.scheduled
    with pytest.raises(GeneratorBehind, match="could not hold its schedule"):
        outcome.raise_if_invalid()


def test_distributed_run_merges_to_the_requests_sent(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = http_server()
    plan = LoadPlan(
        users=["ping"], arrival="poisson", seed=5, rate=[{"rps": 300, "hold_s": 3}], workers=2
    )
    outcome = LoadRun(plan, server.url, time.time(), tmp_path).start().wait()
    health = outcome.generator
    assert health.valid, health.reason
    assert health.workers == 2
    served = server.get("/_count")["count"]
    assert outcome.count() == health.sent == health.scheduled == served
    assert sum(decode(b.histogram).get_total_count() for b in outcome.series) == served
    assert {p.name for p in (tmp_path / "x").parent.glob("load-worker-*.log")} == {
        "load-worker-0.log",
        "load-worker-1.log",
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_stop_aborts_within_bounds_and_keeps_what_was_measured(
    http_server: Callable[..., Server], tmp_path: Path, workers: int
) -> None:
    server = http_server()
    plan = LoadPlan(users=["ping"], rate=[{"rps": 100, "hold_s": 60}], workers=workers)
    run = LoadRun(plan, server.url, time.time(), tmp_path, progress=False).start()
    deadline = time.time() + 30
    while run.latest_second() is None and time.time() < deadline:
        time.sleep(0.05)
    view = run.latest_second()
    assert view is not None
    assert view.names["GET /ping"].count > 0
    began = time.monotonic()
    outcome = run.stop()
    assert time.monotonic() - began < 10
    assert outcome.aborted
    assert not any(p.is_running() for p in run.processes)
    assert outcome.count() == server.get("/_count")["count"] > 0
    assert outcome.generator.scheduled < 60 * 100


def test_shipped_users_run_and_name_requests_by_route_template(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = http_server()
    outcome = run_plan(
        server, tmp_path, users=["api", "dashboard", "memory"], rate=[{"rps": 150, "hold_s": 2}]
    )
    names = {b.name for b in outcome.series}
    assert {"GET /api/health", "GET /api/dashboard/performance"} <= names
    assert names <= {
        "GET /api/health", "GET /api/items", "GET /api/items/{item_id}", "POST /api/items",
        "GET /api/dashboard/performance", "GET /api/health/dashboard",
        "POST /api/memories", "GET /api/memories", "GET /api/memories/{key}",
    }  # fmt: skip
    assert outcome.count() == outcome.generator.sent
    assert sum(b.errors for b in outcome.series) == 0


def test_slow_sut_with_too_few_slots_is_valid_with_its_latency(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    """A SUT slower than the open slots can carry (10 users x 300 ms = 33 rps for a 100 rps
    schedule): the sends queue for a free user. That is the SUT's latency, counted from the
    intended send, not a generator that fell behind: the generator is VALID, slot-starved, high
    latency (the gate's ~2.4 s dashboard case; the old code said "late or never"). But 100 rps
    x the SUT's own 300 ms is 30 requests in flight, and 10 slots were given: the load is no
    evidence ("too few slots", issue 20), and what was still queued at the stop is an error."""
    server = http_server(delay_ms=300)
    outcome = run_plan(
        server, tmp_path, rate=[{"rps": 100, "hold_s": 3}], concurrency=10, drain_s=1
    )
    health = outcome.generator
    assert health.valid, health.reason
    assert health.slot_starved_fraction > 0.5
    assert health.sent < health.scheduled  # queued sends left at the end: starved, not invalid
    assert outcome.percentile_ms(90) > 1000  # from the intended send: the queue is the SUT's
    queued = outcome.count("PingUser (queued at stop)")
    assert queued > 0
    assert outcome.count() - queued == health.sent == server.get("/_count")["count"]
    assert health.sent + queued == health.scheduled  # nothing vanished
    assert health.slots_needed is not None
    assert 30 <= health.slots_needed <= 34
    assert health.load_problems[0].startswith(
        f"too few slots: {health.slots_needed} needed by Little's law, 10 given"
    )
