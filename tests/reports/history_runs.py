"""Synthetic stored runs for the history tests: real HDR histograms of log-normal latencies,
seeded, one scenario with a baseline and a fault window. `slowdown` multiplies every latency
(the planted regression); `jitter` is the run-to-run spread of the median (healthy noise)."""

from __future__ import annotations

import random

from reports import hdr
from reports.model import (
    KpiVerdict,
    Machine,
    Phase,
    RunMetadata,
    RunResult,
    ScenarioResult,
    SliceBucket,
    Target,
)

ITEMS = "GET /api/items"
DEFINITION = {"name": "steady", "load": {"rps": 50}, "kpis": ["p95(GET /api/items) < 200ms"]}
KPI = "p95(GET /api/items) < 200ms during baseline"
MEDIAN_MS = 20.0


def synthetic_run(index: int, *, slowdown: float = 1.0, version: str | None = None,
                  seed: int | None = None, jitter: float = 0.03) -> RunResult:  # fmt: skip
    rng = random.Random(seed if seed is not None else index)
    median_us = MEDIAN_MS * 1000 * slowdown * rng.lognormvariate(0, jitter)
    series = []
    p95_values = []
    for second in range(20):  # 10 s baseline, 10 s fault (twice as slow)
        histogram = hdr.new_histogram()
        factor = 2.0 if second >= 10 else 1.0
        for _ in range(100):
            histogram.record_value(int(median_us * factor * rng.lognormvariate(0, 0.4)))
        p95_values.append(histogram.get_value_at_percentile(95) / 1000)
        series.append(SliceBucket(slice=second * 4, name=ITEMS, count=100, errors=0,
                                  histogram=hdr.encode(histogram)))  # fmt: skip
    measured = sorted(p95_values[:10])[-1]
    kpi = KpiVerdict(expression=KPI, window="baseline", measured=round(measured, 3), threshold=200,
                     comparator="<", unit="ms", passed=measured < 200, function="p95",
                     argument=ITEMS, samples=1000, needed=20,
                     status="pass" if measured < 200 else "fail")  # fmt: skip
    scenario = ScenarioResult(
        name="steady", status="pass" if kpi.status == "pass" else "fail",
        t0=1_700_000_000.0 + index * 100, duration_s=20.0,
        phases=[Phase(name="baseline", kind="baseline", start_s=0, end_s=10),
                Phase(name="fault:pg", kind="fault", start_s=10, end_s=20, fault="pg")],
        series=series, kpis=[kpi], scenario=DEFINITION,
    )  # fmt: skip
    started = 1_700_000_000.0 + index * 100
    meta = RunMetadata(run_id=f"run-{index:03d}-{slowdown:g}", started_at=started, ended_at=started + 20,
                       chaosgate_version="0.test", commit="abc1234",
                       machine=Machine(hostname="ci-1", platform="linux", python="3.11", cpus=2,
                                       memory_gb=4.0))  # fmt: skip
    return RunResult(run=meta, status=scenario.status, exit_code=0 if scenario.status == "pass" else 1,
                     target=Target(url="http://127.0.0.1:1", version=version or f"1.{index}", stack="local"),
                     scenarios=[scenario])  # fmt: skip
