"""What a load worker records, and the records it ships to the parent. Pure Python: no Locust.

Latency is recorded from the INTENDED send time, per request name per slice of the scenario
clock (`reports.model.SLICE_S`; the slice the send was intended in), into HDR histograms (µs). The worker ships
*deltas* (what was recorded since the last flush); the parent adds them up, which is exact.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
from hdrh.histogram import HdrHistogram

from reports.hdr import HIGHEST_US, LOWEST_US, encode, new_histogram
from reports.model import slice_of


def clamp_us(seconds: float) -> int:
    return min(max(round(seconds * 1_000_000), LOWEST_US), HIGHEST_US)


@dataclass
class _Bucket:
    histogram: HdrHistogram = field(default_factory=new_histogram)
    count: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)


class Recorder:
    """One per worker process. Call `record*` from the load loop and `flush()` every second."""

    def __init__(self, t0: float, tolerance_ms: float, worker: int) -> None:
        self.t0 = t0
        self.tolerance_s = tolerance_ms / 1000
        self.worker = worker
        self._buckets: dict[tuple[int, str], _Bucket] = {}
        self._service: dict[str, HdrHistogram] = {}
        self._lag = new_histogram()
        self._sent = 0
        self._late = 0
        self._ws_events: list[dict[str, Any]] = []
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)  # prime: the first reading is meaningless

    def slice_of(self, intended: float) -> int:
        return slice_of(intended - self.t0)

    def record_send(self, intended: float, started: float) -> None:
        """A scheduled send started; how late it was is the generator's health."""
        lag = started - intended
        self._sent += 1
        self._lag.record_value(clamp_us(lag))
        if lag > self.tolerance_s:
            self._late += 1

    def record(
        self,
        name: str,
        intended: float,
        started: float,
        service_s: float,
        error: str | None = None,
    ) -> None:
        """A request finished `service_s` after it really started (what a closed loop reports)."""
        key = (self.slice_of(intended), name)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket()
        # from the intended start; a send started early (coalesced timers) counts from its start
        bucket.histogram.record_value(clamp_us(max(started - intended, 0.0) + service_s))
        bucket.count += 1
        if error is not None:
            bucket.errors += 1
            bucket.error_kinds[error] = bucket.error_kinds.get(error, 0) + 1
        service = self._service.get(name)
        if service is None:
            service = self._service[name] = new_histogram()
        service.record_value(clamp_us(service_s))

    def record_ws(self, kind: str, client: str, message_id: str, at: float) -> None:
        self._ws_events.append({"kind": kind, "client": client, "id": message_id, "t": at})

    def flush(
        self, final: bool = False, scheduled: int | None = None, start_at: float | None = None
    ) -> dict[str, Any]:
        """The delta since the last flush as one JSON-able record; resets what it ships."""
        record: dict[str, Any] = {
            "type": "data",
            "worker": self.worker,
            "at": time.time(),
            "buckets": [
                {
                    "slice": index,
                    "name": name,
                    "count": b.count,
                    "errors": b.errors,
                    "error_kinds": b.error_kinds,
                    "histogram": encode(b.histogram),
                }
                for (index, name), b in sorted(self._buckets.items())
            ],
            "service": {name: encode(h) for name, h in self._service.items()},
            "sent": self._sent,
            "late": self._late,
            "lag": encode(self._lag) if self._sent else None,
            "cpu_percent": self._process.cpu_percent(None),
            "rss_mb": self._process.memory_info().rss / 2**20,
            "ws": self._ws_events,
        }
        if final:
            record["final"] = True
            record["scheduled"] = scheduled
            record["start_at"] = start_at  # when this worker's schedule began (Unix time)
        self._buckets = {}
        self._service = {}
        self._lag = new_histogram()
        self._sent = self._late = 0
        self._ws_events = []
        return record
