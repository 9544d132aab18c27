"""Harness CPU per `Collector.series()` call on a long run: prints figures, asserts no time.

Synthetic deltas: 2 workers flush once a second, each flush holding every name's 4 slices of
that second (8 names), for 10 minutes. At each checkpoint the collector has polled everything
and answered one `series()`; then one more second arrives (as between two live checks) and
the next `poll()` + `series()` is timed. Run: .venv/bin/pytest tests/load -m bench -s
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from reports.hdr import encode, new_histogram
from reports.model import SLICES_PER_S
from scenarios.load.collect import Collector

pytestmark = pytest.mark.bench

WORKERS, NAMES, SECONDS = 2, 8, 600
CHECKPOINTS = (60, 300, 600)


def _histograms(n: int) -> list[str]:
    out = []
    for i in range(n):
        h = new_histogram()
        for v in range(25):
            h.record_value(1_000 + (i * 7919 + v * 104_729) % 400_000)
        out.append(encode(h))
    return out


def _flush(second: int, worker: int, pool: list[str]) -> dict[str, Any]:
    buckets = [
        {
            "slice": second * SLICES_PER_S + s,
            "name": f"GET /api/endpoint-{n}",
            "count": 25,
            "errors": 1 if (second + n) % 10 == 0 else 0,
            "error_kinds": {"http_503": 1} if (second + n) % 10 == 0 else {},
            "histogram": pool[(second + s + n + worker) % len(pool)],
        }
        for n in range(NAMES)
        for s in range(SLICES_PER_S)
    ]
    service = {f"GET /api/endpoint-{n}": pool[n] for n in range(NAMES)}
    return {
        "type": "data",
        "worker": worker,
        "at": 1_000.0 + second,
        "buckets": buckets,
        "service": service,
        "sent": 100 * NAMES,
        "late": 0,
        "starved": 0,
        "lag": pool[0],
        "cpu_percent": 20.0,
        "cpu_demand_percent": 20.0,
        "in_flight_from": float(second),
        "rss_mb": 50.0,
        "ws": [],
    }


def _append(path: Path, second: int, pool: list[str]) -> None:
    with path.open("a") as out:
        for worker in range(WORKERS):
            out.write(json.dumps(_flush(second, worker, pool)) + "\n")


def test_series_cost_on_a_long_run(tmp_path: Path) -> None:
    pool = _histograms(16)
    path = tmp_path / "records.jsonl"
    collector = Collector(path)
    collector.t0 = 1_000.0
    poll_cpu = 0.0
    figures: list[tuple[int, int, float, float]] = []
    second = 0
    for checkpoint in CHECKPOINTS:
        while second < checkpoint - 1:
            _append(path, second, pool)
            start = time.process_time()
            collector.poll()
            poll_cpu += time.process_time() - start
            second += 1
        collector.series()  # the live checks have seen everything so far
        _append(path, second, pool)  # one more second arrives before the next check
        start = time.process_time()
        collector.poll()
        polled = time.process_time()
        series = collector.series()
        done = time.process_time()
        poll_cpu += polled - start
        second += 1
        figures.append((checkpoint, len(series), polled - start, done - polled))
    print(f"\ncollector bench: {WORKERS} workers x {NAMES} names x {SLICES_PER_S} slices/s")
    for at, buckets, poll_s, series_s in figures:
        print(
            f"  at {at:4d} s: {buckets:6d} buckets  poll {poll_s * 1000:8.2f} ms CPU"
            f"  series() {series_s * 1000:9.2f} ms CPU"
        )
    print(f"  poll() total over {SECONDS} s of deltas: {poll_cpu:.2f} s CPU")
    assert len(series) == SECONDS * SLICES_PER_S * NAMES
    assert sum(b.count for b in series) == SECONDS * SLICES_PER_S * NAMES * 25 * WORKERS
