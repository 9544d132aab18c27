"""A soak's coarse buckets (SliceBucket.slices > 1) in windows and plots: a 10 s bucket is one
point at its start with its rate per second, selected by its middle, and fine results are
written exactly as before (no `slices` key)."""

from __future__ import annotations

import json

import pytest

from reports.hdr import encode, new_histogram
from reports.model import SLICES_PER_S, ScenarioResult, SliceBucket
from reports.plots import _per_second, _span, timeline_svg

pytestmark = pytest.mark.unit


def _bucket(slice_index: int, count: int, slices: int = 1) -> SliceBucket:
    h = new_histogram()
    for _ in range(count):
        h.record_value(2_000)
    return SliceBucket(slice=slice_index, name="GET /x", count=count, errors=0,
                       histogram=encode(h), slices=slices)  # fmt: skip


def _soak() -> ScenarioResult:
    fine = [_bucket(i, 25) for i in range(10 * SLICES_PER_S)]  # 0-10 s: 100 req/s
    coarse = [_bucket(s * SLICES_PER_S, 1_000, 10 * SLICES_PER_S) for s in (10, 20, 30)]
    return ScenarioResult(name="soak", status="pass", t0=0.0, duration_s=40.0,
                          series=fine + coarse)  # fmt: skip


def test_a_fine_bucket_is_written_as_before() -> None:
    assert "slices" not in json.loads(_bucket(3, 1).model_dump_json())
    coarse = _bucket(40, 1, 40)
    assert json.loads(coarse.model_dump_json())["slices"] == 40
    assert (coarse.start_s, coarse.mid_s, coarse.end_s) == (10.0, 15.0, 20.0)


def test_a_coarse_bucket_is_one_point_at_its_rate() -> None:
    by_second = _per_second(_soak())["GET /x"]
    assert _span(by_second) == [*range(10), 10, 20, 30]
    assert {s: by_second[s].count / by_second[s].width for s in (0, 10, 30)} == {
        0: 100.0,
        10: 100.0,
        30: 100.0,
    }
    assert timeline_svg(_soak()) is not None
