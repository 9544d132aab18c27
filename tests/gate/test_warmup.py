"""The warm-up: sent at a ramp to the profile's first rate, recorded, never judged; scenario
windows and fault times count from its end. And the live early stop waits for the requests
still in flight before it reads a recovery."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reports import hdr
from reports.model import SLICES_PER_S, GeneratorHealth, Phase, SliceBucket
from scenarios.journal import Journal
from scenarios.load.plan import LoadPlan
from scenarios.load.schedule import plan_offsets
from scenarios.loader import scenario_from_data
from scenarios.runner import ScenarioRun

pytestmark = pytest.mark.unit
PING = "GET /ping"


def test_the_warmup_ramps_to_the_first_rate_before_the_profile() -> None:
    """Fails on the old code: no `warmup_s` (the load began cold, with the judged window)."""
    plan = LoadPlan(users=["ping"], rate=[{"ramp_to_rps": 100, "over_s": 2}, {"hold_s": 4}],
                    arrival="constant", warmup_s="4s")  # fmt: skip
    assert plan.total_s == 10
    assert plan.duration_s == 6
    offsets = list(plan_offsets(plan))
    warm = [t for t in offsets if t < 4]
    assert len(warm) == pytest.approx(200, abs=1)  # 0 -> 100 rps over 4 s
    assert sum(1 for t in warm if t < 2) == pytest.approx(50, abs=1)  # a ramp, not a jump
    # the profile's ramp starts at the rate the warm-up reached: 100 rps from its first second
    assert sum(1 for t in offsets if 4 <= t < 5) == pytest.approx(100, abs=1)
    assert len(offsets) == pytest.approx(200 + 600, abs=1)


def test_warmup_is_in_the_published_schema() -> None:
    schema = json.loads(
        (Path(__file__).parents[2] / "scenarios" / "scenario.schema.json").read_text()
    )
    assert "warmup_s" in schema["$defs"]["LoadPlan"]["properties"]


def _bucket(second: int, ms: float, n: int = 40, name: str = PING) -> SliceBucket:
    histogram = hdr.new_histogram()
    for _ in range(n):
        histogram.record_value(int(ms * 1000))
    return SliceBucket(slice=second * SLICES_PER_S, name=name, count=n, errors=0,
                       histogram=hdr.encode(histogram))  # fmt: skip


def _run(data: dict[str, Any], t0: float) -> ScenarioRun:
    run = ScenarioRun.__new__(ScenarioRun)
    run.scenario = scenario_from_data(data)
    run.t0 = t0
    run.journal = Journal(t0)
    run.probes = SimpleNamespace(snapshot=lambda: [])  # type: ignore[assignment]
    run.breach = None
    run.invalid = None
    run.times = {}
    return run


def test_warmup_requests_are_recorded_but_judged_by_no_window() -> None:
    """A cold start (4 s of 2 s answers) in the warm-up, then a fast SUT: `whole` passes, and
    the warm-up's buckets stay in the result."""
    run = _run({"name": "w", "load": {"users": ["ping"], "warmup_s": 4,
                                      "rate": [{"rps": 40, "hold_s": 10}]},
                "kpis": ["p95(GET /ping) < 100ms during whole"]}, time.time())  # fmt: skip
    run.judged_from = 5.0  # the load's first second (1) + 4 s of warm-up
    run.phases = [Phase(name="warmup", kind="warmup", start_s=1, end_s=5),
                  Phase(name="baseline", kind="baseline", start_s=5, end_s=15)]  # fmt: skip
    series = [_bucket(s, 2000) for s in range(1, 5)] + [_bucket(s, 5) for s in range(5, 15)]
    generator = GeneratorHealth(intended_rate=40, achieved_rate=40, scheduled=560, sent=560,
                                max_lag_ms=1, p99_lag_ms=1, late_fraction=0, tolerance_ms=20,
                                cpu_percent_max=10, workers=1, valid=True)  # fmt: skip
    result = run._judge(SimpleNamespace(series=series, generator=generator, websocket=None))  # type: ignore[arg-type]
    assert result.status == "pass", (result.invalid_reason, [v.message for v in result.kpis])
    assert len(result.series) == 14  # recorded
    assert result.phases[0].kind == "warmup"


def test_the_early_stop_waits_for_requests_in_flight() -> None:
    """Fails on the old code: the live check judged slices whose slow requests were still
    out (fast answers in, the slow ones not yet), stopped the load and later read "never
    recovered"."""
    t0 = time.time() - 16.0  # scenario second 16 now
    run = _run({"name": "r", "load": {"users": ["ping"], "rate": [{"rps": 40, "hold_s": 30}]},
                "faults": [{"name": "f", "at_s": 5, "for_s": 3, "target": "postgres",
                            "fault": "down"}],
                "kpis": ["p95(GET /ping) < 100ms during baseline"]}, t0)  # fmt: skip
    run.times = {"f": (5.0, 8.0)}
    series = [_bucket(s, 5) for s in range(0, 16)]
    through = {"s": 9.0}  # a request intended at 9 s is still waiting on the SUT

    collector = SimpleNamespace(series=lambda: series,
                                recorded_through_s=lambda workers=1: through["s"])  # fmt: skip
    run.load = SimpleNamespace(latest_second=lambda: None, collector=collector,  # type: ignore[assignment]
                               plan=SimpleNamespace(workers=1))  # fmt: skip
    assert not run._all_recovered()
    through["s"] = 15.0
    assert run._all_recovered()
