"""Recovery, detection and aborts judged on pooled samples with the evidence rules (issue 20).
Pure logic: seeded synthetic series, no stack."""

from __future__ import annotations

import random

import pytest

from reports import hdr
from reports.kpi_parse import parse_kpi
from reports.model import SLICE_S, ProbeSample, SliceBucket
from reports.recovery import detect, recovered_at

pytestmark = pytest.mark.unit

GET = "GET /api/items"
CHECK = parse_kpi(f"error_rate({GET}) < 5%")
HEAL_S, END_S = 20.0, 42.0  # a 22-s recovery window


def sick_after_heal(seed: int, rps: float = 2.0, failing: float = 0.3) -> list[SliceBucket]:
    """A SUT still failing `failing` of its requests after the heal, at `rps` (Poisson sends)."""
    rng = random.Random(seed)
    counts: dict[int, list[int]] = {}
    t = 0.0
    while True:
        t += rng.expovariate(rps)
        if t >= END_S:
            break
        slot = counts.setdefault(int(t / SLICE_S), [0, 0])
        slot[0] += 1
        slot[1] += rng.random() < failing
    out = []
    for index, (count, errors) in sorted(counts.items()):
        histogram = hdr.new_histogram()
        for _ in range(count):
            histogram.record_value(5_000)
        out.append(SliceBucket(slice=index, name=GET, count=count, errors=errors,
                               histogram=hdr.encode(histogram)))  # fmt: skip
    return out


def recovered_of_200() -> int:
    return sum(
        recovered_at([CHECK], sick_after_heal(seed), [], HEAL_S, END_S) is not None
        for seed in range(200)
    )


def test_a_sut_failing_30_percent_after_the_heal_is_not_recovered() -> None:
    """Old code: 170-odd of 200 seeded runs read "recovered" (per-slice point values, empty
    slices neither breaking nor counting)."""
    assert recovered_of_200() <= 2


def healthy(until_s: float, per_slice: int = 5, ms: float = 5.0) -> list[SliceBucket]:
    out = []
    for index in range(round(until_s / SLICE_S)):
        histogram = hdr.new_histogram()
        for _ in range(per_slice):
            histogram.record_value(int(ms * 1000))
        out.append(SliceBucket(slice=index, name=GET, count=per_slice, errors=0,
                               histogram=hdr.encode(histogram)))  # fmt: skip
    return out


def test_one_slow_request_among_20_is_no_detection() -> None:
    """Old code: the slice holding one 900-ms request among 20 broke `p95 < 200ms`: detected."""
    data = healthy(30.0)
    slow = hdr.new_histogram()
    for ms in [5.0] * 4 + [900.0]:
        slow.record_value(int(ms * 1000))
    index = round(12.0 / SLICE_S)
    data[index] = SliceBucket(slice=index, name=GET, count=5, errors=0, histogram=hdr.encode(slow))
    p95 = parse_kpi(f"p95({GET}) < 200ms")
    assert detect([], 10.0, 30.0, None, [p95], data) is None
    # a real breach (every request slow from 20 s on) is still detected where it began
    for i in range(round(20.0 / SLICE_S), len(data)):
        data[i] = healthy(0.25, ms=900.0)[0].model_copy(update={"slice": i})
    found = detect([], 10.0, 30.0, None, [p95], data)
    assert found is not None
    assert found.at_s == 20.0


def test_a_run_with_no_data_for_a_check_in_most_of_its_slices_is_no_recovery() -> None:
    """A request seen in one burst, then silent: the burst alone is not a recovered run."""
    burst = [b for b in healthy(30.0, per_slice=40) if 20.0 <= b.start_s < 20.5]
    other = [b.model_copy(update={"name": "GET /api/other"}) for b in healthy(30.0)]
    burst += [b for b in other if b.start_s >= 20.5]  # the run goes on, without GET
    assert recovered_at([CHECK], burst, [], 20.0, 30.0) is None
    assert recovered_at([CHECK], healthy(30.0, per_slice=40), [], 20.0, 30.0) == 20.0


def test_a_signal_already_broken_before_the_injection_does_not_detect() -> None:
    """Old code: a replica gauge stuck at "out" (2) from the start read as detected 0 s after
    the injection."""
    stuck = [ProbeSample(t_s=t / 2, name="breaker.mcp-b", value=2) for t in range(60)]
    assert detect(stuck, 10.0, 30.0, "mcp-b", [], []) is None
    changed = [
        ProbeSample(t_s=t / 2, name="breaker.mcp-b", value=0 if t < 24 else 2) for t in range(60)
    ]
    found = detect(changed, 10.0, 30.0, "mcp-b", [], [])
    assert found is not None
    assert found.at_s == 12.0


def test_a_steady_check_already_broken_before_the_injection_does_not_detect() -> None:
    """A check failing from the start (every request slow) is no sign of this fault."""
    slow = healthy(30.0, ms=900.0)
    p95 = parse_kpi(f"p95({GET}) < 200ms")
    assert detect([], 10.0, 30.0, None, [p95], slow) is None
    # healthy before, slow after: detected where it went bad
    changed = healthy(12.0) + [b for b in slow if b.start_s >= 12.0]
    found = detect([], 10.0, 30.0, None, [p95], changed)
    assert found is not None
    assert found.at_s == 12.0
