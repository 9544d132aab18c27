"""Histograms merge exactly across workers and seconds; the checker finds planted faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from reports.hdr import decode, merge
from reports.hgrm import write_hgrm
from reports.model import SLICES_PER_S
from reports.stats import SliceStats
from scenarios.load.collect import Collector
from scenarios.load.recorder import Recorder
from scenarios.load.wscheck import check_history

pytestmark = pytest.mark.unit

T0 = 1_000_000.0


def test_histograms_merge_exactly_across_workers(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    expected: dict[tuple[int, str], list[int]] = {}
    with records.open("w") as out:
        for worker in range(3):
            recorder = Recorder(T0, tolerance_ms=10, worker=worker)
            for i in range(1000):
                intended = T0 + (i % 4) + 0.5
                service_ms = 1 + (i * 37 + worker * 11) % 500
                if worker == 2 and i == 999:
                    service_ms = 45_000  # one extreme value: max must survive the merge
                recorder.record_send(intended, intended)
                recorder.record("GET /x", intended, intended, service_ms / 1000)
                slice_index = (i % 4) * SLICES_PER_S + SLICES_PER_S // 2  # second + 0.5 s
                expected.setdefault((slice_index, "GET /x"), []).append(service_ms * 1000)
                if i % 250 == 0:  # several deltas per worker, as in a live run
                    out.write(json.dumps(recorder.flush()) + "\n")
            out.write(json.dumps(recorder.flush(final=True, scheduled=1000)) + "\n")
    collector = Collector(records)
    collector.poll()
    series = collector.series()
    assert {(b.slice, b.name) for b in series} == set(expected)
    for bucket in series:
        values = expected[(bucket.slice, bucket.name)]
        histogram = decode(bucket.histogram)
        assert bucket.count == histogram.get_total_count() == len(values)
        assert histogram.values_are_equivalent(histogram.get_max_value(), max(values))
        assert histogram.values_are_equivalent(histogram.get_min_value(), min(values))
    whole = merge(b.histogram for b in series)
    assert whole.get_total_count() == 3000
    assert whole.values_are_equivalent(whole.get_max_value(), 45_000_000)
    assert collector.sent == 3000
    assert sum(collector.finals.values()) == 3000


def test_collector_reads_a_file_being_written_without_losing_a_line(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    recorder = Recorder(T0, tolerance_ms=10, worker=0)
    recorder.record("GET /x", T0, T0, 0.002)
    line = json.dumps(recorder.flush()) + "\n"
    collector = Collector(records)
    with records.open("w") as out:
        out.write(line[:40])
        out.flush()
        collector.poll()  # half a line: nothing yet, nothing lost
        assert collector.series() == []
        out.write(line[40:])
        out.flush()
    collector.poll()
    assert [b.count for b in collector.series()] == [1]


def test_websocket_checker_finds_planted_loss_duplicate_and_stranger() -> None:
    history = [
        {"kind": "sent", "client": "a", "id": "m1", "t": 10.0},
        {"kind": "acked", "client": "a", "id": "m1", "t": 10.001},
        {"kind": "received", "client": "a", "id": "m1", "t": 10.050},
        {"kind": "sent", "client": "a", "id": "m2", "t": 11.0},
        {"kind": "acked", "client": "a", "id": "m2", "t": 11.001},  # planted: never received
        {"kind": "sent", "client": "a", "id": "m3", "t": 12.0},
        {"kind": "acked", "client": "a", "id": "m3", "t": 12.001},
        {"kind": "received", "client": "a", "id": "m3", "t": 12.020},
        {"kind": "reconnect", "client": "a", "id": "", "t": 12.5},
        {"kind": "received", "client": "a", "id": "m3", "t": 12.6},  # planted: replayed twice
        {"kind": "sent", "client": "a", "id": "m4", "t": 13.0},  # never acked: not "lost"
        {"kind": "received", "client": "a", "id": "zz", "t": 13.1},  # planted: nobody sent it
        {"kind": "received", "client": "a", "id": "srv-1", "t": 13.2},  # server-originated
    ]
    summary = check_history(history, server_ids=["srv-1"])
    assert summary.lost == ["a/m2"]
    assert summary.duplicated == ["a/m3"]
    assert summary.unexpected == ["a/zz"]
    assert (summary.sent, summary.acknowledged, summary.reconnects) == (4, 3, 1)
    latency = decode(summary.latency_histogram or "")
    assert latency.get_total_count() == 2  # m1 and m3, first receipt only
    assert latency.values_are_equivalent(latency.get_max_value(), 50_000)
    assert latency.values_are_equivalent(latency.get_min_value(), 20_000)


def test_same_id_from_two_clients_is_two_messages() -> None:
    history = [{"kind": "sent", "client": c, "id": "m", "t": 1.0} for c in ("a", "b")] + [
        {"kind": "acked", "client": c, "id": "m", "t": 1.1} for c in ("a", "b")
    ]
    history.append({"kind": "received", "client": "a", "id": "m", "t": 1.2})
    assert check_history(history).lost == ["b/m"]


def test_hgrm_export_has_the_percentiles_in_ms(tmp_path: Path) -> None:
    recorder = Recorder(T0, tolerance_ms=10, worker=0)
    for ms in range(1, 101):
        recorder.record("GET /api/items/{item_id}", T0 + (ms % 3), T0 + (ms % 3), ms / 1000)
    (tmp_path / "r.jsonl").write_text(json.dumps(recorder.flush()) + "\n")
    collector = Collector(tmp_path / "r.jsonl")
    collector.poll()
    [path] = write_hgrm(collector.series(), tmp_path / "hgrm")
    assert path.name == "get-api-items-item-id.hgrm"
    lines = path.read_text().splitlines()[2:]
    rows = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    last_value, last_percentile, total = float(rows[-1][0]), float(rows[-1][1]), int(rows[-1][2])
    assert (last_percentile, total) == (1.0, 100)
    assert last_value == pytest.approx(100.0, rel=0.001)
    values = [float(r[0]) for r in rows]
    assert values == sorted(values)
    assert values[0] == pytest.approx(1.0, rel=0.001)


def test_sends_are_bucketed_by_intended_time_in_quarter_seconds(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    recorder = Recorder(T0, tolerance_ms=10, worker=0)
    for offset in (0.1, 0.3, 0.9, 1.2):  # started late: the slice is the intended one
        recorder.record("GET /x", T0 + offset, T0 + offset + 0.5, 0.002)
    records.write_text(json.dumps(recorder.flush()) + "\n")
    collector = Collector(records)
    collector.poll()
    assert [(b.slice, b.start_s, b.mid_s) for b in collector.series()] == [
        (0, 0.0, 0.125), (1, 0.25, 0.375), (3, 0.75, 0.875), (4, 1.0, 1.125),
    ]  # fmt: skip
    assert collector.seconds() == [0, 1]
    assert (collector.view(0).count, collector.view(1).count) == (3, 1)  # live view per second


def test_slice_stats_record_merge_and_wire_round_trip() -> None:
    a, b = SliceStats(3, "GET /x"), SliceStats(3, "GET /x")
    for v in (1_000, 2_000, 3_000):
        a.record(v)
    b.record(40_000_000, "timeout")
    total = SliceStats(3, "GET /x")
    total.merge(SliceStats.from_wire(a.to_wire()))  # into an empty value: adopts the encoding
    total.merge(SliceStats.from_wire(b.to_wire()))
    total.merge(SliceStats.from_wire(b.to_wire()))
    h = total.histogram()
    assert (total.count, total.errors, total.error_kinds) == (5, 2, {"timeout": 2})
    assert h.get_total_count() == 5
    assert h.values_are_equivalent(h.get_max_value(), 40_000_000)
    assert h.values_are_equivalent(h.get_min_value(), 1_000)
    bucket = total.to_bucket()
    assert (bucket.slice, bucket.name, bucket.count) == (3, "GET /x", 5)
    assert decode(bucket.histogram).get_total_count() == 5


def test_series_encodes_only_what_changed_since_the_last_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live checks call series() every ~0.2 s: re-encoding every bucket each time made
    the harness's CPU grow with the square of the run length."""
    records = tmp_path / "records.jsonl"
    recorder = Recorder(T0, tolerance_ms=10, worker=0)
    collector = Collector(records)
    with records.open("w") as out:
        for second in range(10):
            recorder.record("GET /x", T0 + second, T0 + second, 0.002)
            recorder.record("GET /y", T0 + second, T0 + second, 0.003)
            out.write(json.dumps(recorder.flush()) + "\n")
    collector.poll()
    assert len(collector.series()) == 20
    with records.open("a") as out:
        recorder.record("GET /x", T0 + 9, T0 + 9, 0.004)  # one more delta for one key
        out.write(json.dumps(recorder.flush()) + "\n")
    encodes = 0
    real_encode = HdrHistogram.encode

    def counting_encode(self: HdrHistogram) -> bytes:
        nonlocal encodes
        encodes += 1
        encoded: bytes = real_encode(self)
        return encoded

    monkeypatch.setattr(HdrHistogram, "encode", counting_encode)
    collector.poll()
    series = collector.series()
    assert encodes == 1
    assert [b.count for b in series if b.name == "GET /x"][-1] == 2
    assert sum(b.count for b in series) == 21
