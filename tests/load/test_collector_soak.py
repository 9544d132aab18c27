"""A long run keeps the parent flat: past its first minutes the collector merges old slices into
coarse buckets, exactly (the same counts and the same histogram), and keeps the fine ones a
verdict needs. On the old collector every slice stayed (14,400 buckets per name per hour)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from reports.hdr import encode, merge, new_histogram
from reports.model import SLICE_S, SLICES_PER_S
from scenarios.load import collect
from scenarios.load.collect import Collector

pytestmark = pytest.mark.unit

NAMES = ("GET /a", "GET /b")
WORKERS = 2


def _histogram(seed: int) -> str:
    h = new_histogram()
    for v in range(5):
        h.record_value(1_000 + (seed * 7_919 + v * 104_729) % 900_000)
    return encode(h)


POOL = [_histogram(seed) for seed in range(61)]


def _delta(slice_index: int, name: str, worker: int) -> dict[str, Any]:
    fails = 1 if slice_index % 7 == 0 else 0
    return {"slice": slice_index, "name": name, "count": 5, "errors": fails,
            "error_kinds": {"http_503": 1} if fails else {}, "histogram": POOL[(slice_index + worker * 7) % len(POOL)]}  # fmt: skip


def _flush(second: int, worker: int, late: list[int] | None = None) -> dict[str, Any]:
    slices = [second * SLICES_PER_S + s for s in range(SLICES_PER_S)] + (late or [])
    return {"type": "data", "worker": worker, "at": 1_000.0 + second,
            "buckets": [_delta(i, n, worker) for i in slices for n in NAMES], "service": {},
            "sent": 5 * len(slices) * len(NAMES), "late": 0, "lag": "", "cpu_percent": 10.0,
            "in_flight_from": None, "rss_mb": 40.0, "ws": []}  # fmt: skip


def _run(tmp_path: Path, seconds: int, fine_spans: list[tuple[float, float]]) -> Collector:
    path = tmp_path / "records.jsonl"
    collector = Collector(path)
    collector.t0 = 1_000.0
    collector.fine_spans = fine_spans
    for second in range(seconds):
        # a straggler: slice 2 of second 700 comes back long after it was coarsened
        late = [700 * SLICES_PER_S + 2] if second == seconds - 1 else None
        with path.open("a") as out:
            for worker in range(WORKERS):
                out.write(json.dumps(_flush(second, worker, late if worker == 0 else None)) + "\n")
        collector.poll()
        if second % 5 == 0:
            collector.series()  # the live checks read it as the run goes
    return collector


def test_old_slices_merge_into_coarse_buckets_exactly(tmp_path: Path) -> None:
    seconds = 1_200
    collector = _run(tmp_path, seconds, fine_spans=[(900.0, 930.0)])
    series = collector.series()
    every = [_delta(i, n, w) for i in range(seconds * SLICES_PER_S) for n in NAMES
             for w in range(WORKERS)] + [_delta(700 * SLICES_PER_S + 2, n, 0) for n in NAMES]  # fmt: skip
    assert sum(b.count for b in series) == sum(d["count"] for d in every)
    assert sum(b.errors for b in series) == sum(d["errors"] for d in every)
    expected = merge(d["histogram"] for d in every)
    got = merge(b.histogram for b in series)
    for p in (50, 95, 99, 99.9, 100):
        assert got.get_value_at_percentile(p) == expected.get_value_at_percentile(p)
    fine_until = collect.FINE_FIRST_S
    assert all(b.slices == 1 for b in series if b.start_s < fine_until)
    assert all(b.slices == 1 for b in series if 900.0 <= b.start_s < 930.0)  # a fault window
    coarse = [b for b in series if b.slices > 1]
    assert coarse
    assert all(b.width_s == collect.COARSE_S for b in coarse)
    assert {b.start_s for b in coarse} >= {700.0, 890.0, 930.0}
    assert all(b.start_s % collect.COARSE_S == 0 for b in coarse)
    assert [(b.slice, b.name) for b in series] == sorted((b.slice, b.name) for b in series)
    # no instant is counted twice: the buckets tile the run
    edges = sorted((b.start_s, b.end_s) for b in series if b.name == NAMES[0])
    assert all(a[1] <= b[0] + 1e-9 for a, b in itertools.pairwise(edges))


def test_a_soak_holds_a_bounded_number_of_buckets(tmp_path: Path) -> None:
    """Buckets held per name: the first ten minutes fine, then 6 per minute (360 per hour)."""
    seconds = 1_800
    collector = _run(tmp_path, seconds, fine_spans=[])
    per_name = len(collector.series()) / len(NAMES)
    fine = collect.FINE_FIRST_S / SLICE_S
    recent = (collect.ROLL_AFTER_S + collect.COARSE_S) / SLICE_S  # not yet old enough
    coarse = (seconds - collect.FINE_FIRST_S) / collect.COARSE_S
    print(f"\n{per_name:.0f} buckets per name after {seconds} s (old collector: {seconds * 4})")
    assert per_name <= fine + recent + coarse
    assert per_name < seconds * SLICES_PER_S / 2
