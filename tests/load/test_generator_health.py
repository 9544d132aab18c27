"""Generator health tells the generator's own lag from a slow SUT's, and a stop leaves no
request behind: pure logic (recorder, engine, collector, LoadRun._health, the runner's
verdict) with fakes, no Locust, no processes."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reports.hdr import decode
from reports.model import GeneratorHealth, KpiVerdict
from scenarios.journal import Journal
from scenarios.load.collect import Collector
from scenarios.load.engine import STOPPED_IN_FLIGHT, Engine
from scenarios.load.plan import LoadPlan
from scenarios.load.recorder import CpuDemand, Recorder
from scenarios.load.run import LoadRun
from scenarios.runner import ScenarioRun

pytestmark = pytest.mark.unit

T0 = 1_000_000.0


def _idle_cpu(monkeypatch: pytest.MonkeyPatch, percent: float = 5.0) -> None:
    monkeypatch.setattr(CpuDemand, "percent", lambda self, cpu: percent)


# -- the recorder: starved vs late ---------------------------------------------------------
def test_a_send_that_waited_for_a_free_user_is_starved_not_late(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _idle_cpu(monkeypatch)
    recorder = Recorder(T0, tolerance_ms=20, worker=0)
    recorder.record_send(T0 + 1, T0 + 3.4, queued_at=T0 + 1.001)  # every user busy on the SUT
    recorder.record_send(T0 + 2, T0 + 2.5)  # a user was free: the generator's own lag
    recorder.record_send(T0 + 3, T0 + 3.5, queued_at=T0 + 3.3)  # the dispatcher itself late
    recorder.record_send(T0 + 4, T0 + 4.001, queued_at=T0 + 4)  # on time
    record = recorder.flush()
    assert (record["sent"], record["late"], record["starved"]) == (4, 2, 1)


def test_starved_sends_while_the_cpu_is_saturated_are_the_generators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every user busy because the generator could not serve them: late, not starved."""
    _idle_cpu(monkeypatch, percent=99.0)
    recorder = Recorder(T0, tolerance_ms=20, worker=0, cpu_limit_percent=95)
    for i in range(10):
        recorder.record_send(T0 + i, T0 + i + 1, queued_at=T0 + i)
    record = recorder.flush()
    assert (record["late"], record["starved"]) == (10, 0)
    final = recorder.flush(final=True, scheduled=12, unsent_starved=2)
    assert final["unsent_starved"] == 0  # the last load interval was busy


def test_cpu_demand_counts_run_queue_wait() -> None:
    demand = CpuDemand.__new__(CpuDemand)
    readings = iter([(0.0, 10.0), (1.0, 10.9)])
    demand._read = lambda: next(readings)  # type: ignore[method-assign]
    demand._last = demand._read()
    assert demand.percent(cpu_percent=40.0) == pytest.approx(90.0)  # 40 % ran, 50 % waited


# -- the engine: what is in flight, and the stop ---------------------------------------------
def _engine(**fields: Any) -> Engine:
    plan = LoadPlan(**({"users": ["ping"], "rate": [{"rps": 100, "hold_s": 10}]} | fields))
    return Engine(plan, T0, T0, 0, 1)


def test_give_up_records_every_request_in_flight_as_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fails on the old code (no in-flight registry: killed requests vanished)."""
    _idle_cpu(monkeypatch)
    engine = _engine()
    waiting = [engine.take("http") for _ in range(3)]
    queued = engine.take("http")
    assert all(waiting)
    assert queued is not None
    for i, ticket in enumerate(waiting):
        assert ticket is not None
        ticket.request = ("GET /ping", ticket.intended + 0.001 * i)
    queued.queued_at = queued.intended
    assert engine.oldest_in_flight() == waiting[0].intended  # type: ignore[union-attr]
    now = T0 + 5.0
    assert engine.give_up(now) == 3
    assert engine.unsent_starved == 1
    assert not engine.in_flight
    assert all(t.given_up for t in [*waiting, queued] if t)
    record = engine.recorder.flush()
    assert record["sent"] == 3  # each stopped request started: sent == recorded
    (bucket,) = [b for b in record["buckets"] if b["name"] == "GET /ping"]
    assert bucket["count"] == bucket["errors"] == 3
    assert bucket["error_kinds"] == {STOPPED_IN_FLIGHT: 3}
    latency = decode(bucket["histogram"])
    first = waiting[0]
    assert first is not None
    # latency = stop - intended start (µs, HDR precision)
    assert latency.get_max_value() == pytest.approx((now - first.intended) * 1e6, rel=1e-3)


def test_finished_tickets_leave_the_flight() -> None:
    engine = _engine()
    ticket = engine.take("http")
    assert ticket is not None
    engine.finish(ticket)
    assert engine.oldest_in_flight() is None
    assert engine.give_up(T0 + 1) == 0


def test_stop_drain_defaults_to_the_request_timeout_and_is_bounded_by_it() -> None:
    plan = {"users": ["ping"], "rate": [{"rps": 1, "hold_s": 1}], "request_timeout_s": 4}
    assert LoadPlan(**plan).stop_drain == 4
    assert LoadPlan(**plan, stop_drain_s="500ms").stop_drain == 0.5
    assert LoadPlan(**plan, stop_drain_s=30).stop_drain == 4


# -- the collector: which intended-send slices may still change --------------------------------
def _write(path: Path, *records: dict[str, Any]) -> None:
    with path.open("a") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")


def test_collector_says_what_is_still_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _idle_cpu(monkeypatch)
    path = tmp_path / "records.jsonl"
    collector = Collector(path)
    collector.t0 = T0
    a, b = Recorder(T0, 20, 0), Recorder(T0, 20, 1)
    monkeypatch.setattr(time, "time", lambda: T0 + 7.5)
    _write(path, a.flush(oldest_in_flight=T0 + 4.25))
    collector.poll()
    assert collector.oldest_in_flight_s() == 4.25
    assert collector.recorded_through_s(workers=2) is None  # worker 1 has not flushed yet
    _write(path, b.flush(oldest_in_flight=None))
    collector.poll()
    assert collector.oldest_in_flight_s() == 4.25
    assert collector.recorded_through_s(workers=2) == 4.25
    _write(path, a.flush(oldest_in_flight=None))
    collector.poll()
    assert collector.oldest_in_flight_s() is None
    assert collector.recorded_through_s(workers=2) == 7.5  # the flush time, scenario seconds
    _write(path, a.flush(final=True, scheduled=1), b.flush(final=True, scheduled=1))
    collector.poll()
    assert collector.recorded_through_s(workers=2) == math.inf
    assert [(w, o) for w, _, o in collector.in_flight_history] == [
        (0, 4.25),
        (1, None),
        (0, None),
    ]


# -- LoadRun._health with a fake collector --------------------------------------------------
def _health(tmp_path: Path, **counts: Any) -> GeneratorHealth:
    plan = LoadPlan(users=["ping"], rate=[{"rps": 100, "hold_s": 10}])
    run = LoadRun(plan, "http://127.0.0.1:1", T0, tmp_path, progress=False)
    c = run.collector
    c.finals = {0: counts.pop("scheduled", 1000)}
    c.sent = counts.pop("sent", 1000)
    c.late = counts.pop("late", 0)
    c.starved = counts.pop("starved", 0)
    c.unsent_starved = counts.pop("unsent_starved", 0)
    c.cpu_samples = {0: counts.pop("cpu", [20.0, 20.0, 20.0])}
    assert not counts
    return run._health()


def test_a_slow_sut_with_too_few_slots_is_valid_and_reported(tmp_path: Path) -> None:
    """Fails on the old code: it made this run INVALID ("generator behind")."""
    health = _health(tmp_path, sent=900, starved=400, unsent_starved=100)
    assert health.valid, health.reason
    assert health.slot_starved == 500
    assert health.slot_starved_fraction == pytest.approx(0.5)
    assert health.late_fraction == 0.0


@pytest.mark.parametrize(
    ("counts", "reason"),
    [
        ({"late": 50}, "late or never"),
        ({"sent": 900, "unsent_starved": 10}, "late or never"),  # 90 skipped by the generator
        ({"starved": 400, "cpu": [99.0, 99.0, 99.0]}, "CPU saturated"),
    ],
)
def test_a_generator_that_could_not_keep_up_is_invalid(
    tmp_path: Path, counts: dict[str, Any], reason: str
) -> None:
    health = _health(tmp_path, **counts)
    assert not health.valid
    assert reason in (health.reason or "")


def test_old_generator_json_still_loads() -> None:
    old = {
        "intended_rate": 1, "achieved_rate": 1, "scheduled": 1, "sent": 1, "max_lag_ms": 0,
        "p99_lag_ms": 0, "late_fraction": 0, "tolerance_ms": 20, "cpu_percent_max": 1,
        "workers": 1, "valid": True,
    }  # fmt: skip
    assert GeneratorHealth.model_validate(old).slot_starved == 0


# -- the runner: an invalid generator is never hidden by a KPI breach ----------------------------
def test_invalid_generator_and_failed_kpi_both_show(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails on the old code: a breach made the result FAIL and hid the invalid generator."""
    failed = KpiVerdict(
        expression="p95(GET /ping) < 100ms", window="whole", measured=2400.0, threshold=100.0,
        comparator="<", unit="ms", passed=False,
    )  # fmt: skip
    run = ScenarioRun.__new__(ScenarioRun)
    run.scenario = SimpleNamespace(name="s", description="", model_dump=lambda mode: {})  # type: ignore[assignment]
    run.t0 = time.time()
    run.journal = Journal(run.t0)
    run.phases = []
    run.probes = SimpleNamespace(snapshot=lambda: [])  # type: ignore[assignment]
    run.breach = SimpleNamespace(expression=failed.expression, decided_at_s=1.0)  # type: ignore[assignment]
    run.invalid = None
    monkeypatch.setattr(run, "_recoveries", lambda result, end_s: [])
    monkeypatch.setattr(run, "_verdicts", lambda result: [failed])
    generator = GeneratorHealth(
        intended_rate=100, achieved_rate=50, scheduled=100, sent=50, max_lag_ms=900,
        p99_lag_ms=800, late_fraction=0.5, tolerance_ms=20, cpu_percent_max=100, workers=1,
        valid=False, reason="generator CPU saturated",
    )  # fmt: skip
    outcome = SimpleNamespace(series=[], generator=generator, websocket=None)
    result = run._judge(outcome)  # type: ignore[arg-type]
    assert result.status == "invalid"
    assert "generator CPU saturated" in (result.invalid_reason or "")
    assert [v.passed for v in result.kpis] == [False]
