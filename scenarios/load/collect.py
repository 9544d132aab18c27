"""Parent side: tail the workers' records file and merge the deltas, exactly (HDR add).

Each delta is merged on arrival into one `SliceStats` per (slice, name); `series()` re-encodes
only the values that changed since its last call (the live checks call it every ~0.2 s, so
its cost must not grow with the run). Changed values hold a decoded histogram (~140 KB) until
`series()` compacts them back to a few hundred bytes, so a long run stays small in memory.

Flat memory on a soak: every slice of the first FINE_FIRST_S is kept (a short run's result is
unchanged); past it, once a COARSE_S group of slices is ROLL_AFTER_S older than the newest
slice seen, its slices are merged into one bucket per name (`SliceBucket.slices`, exact: HDR
histograms add) and a later delta for it merges there. Spans in `fine_spans` (the runner's
fault and recovery windows, where recovery reads 0.25 s slices) are never coarsened. Per
request name an hour then holds 360 buckets, not 14,400.

Each worker's flush also says which intended sends it still had in flight (handed out, not yet
recorded): `oldest_in_flight_s()` and `recorded_through_s()` tell the parent which
intended-send slices may still change, so recovery never declares health on a slice whose
slowest requests have not come back yet.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import math
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from reports.hdr import decode, encode, new_histogram
from reports.model import SLICES_PER_S, SliceBucket
from reports.stats import SliceStats

MAX_HOT = 64  # changed values kept decoded between two series() calls (~9 MB at most)
FINE_FIRST_S = 600.0  # every slice of the first ten minutes stays fine
COARSE_S = 10  # then one bucket per 10 s per name
ROLL_AFTER_S = 60.0  # once this much older than the newest slice (the live view reads ~10 s back)
_GROUP = COARSE_S * SLICES_PER_S  # slices per coarse bucket
# hdrh's HdrHistogram and its encoder (which owns the ~140 KB counts) refer to each other: a
# decoded histogram is freed only by the cyclic GC, whose full passes grow rarer as the heap
# grows. Measured on chaosgate load at 300 rps, 2 workers: the parent's RSS grew ~45 MB in 11
# minutes; with a full collection and malloc_trim every 20 s it stayed at 76-79 MB.
RECLAIM_EVERY_S = 10.0
_LIBC = ctypes.util.find_library("c")
_TRIM = getattr(ctypes.CDLL(_LIBC), "malloc_trim", None) if _LIBC else None  # glibc only


def reclaim() -> None:
    """Free the decoded histograms no longer used and hand the freed heap back to the OS."""
    gc.collect()
    if _TRIM is not None:
        _TRIM(0)


@dataclass
class NameStats:
    count: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass
class SecondView:
    """The live view of one second (its slices added up): per request name, what happened."""

    second: int
    names: dict[str, NameStats]

    @property
    def count(self) -> int:
        return sum(s.count for s in self.names.values())

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.names.values())


def add_tally(total: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """Counts added key by key (nested dicts too): set-up tallies of several workers."""
    out = dict(total)
    for key, value in delta.items():
        if isinstance(value, dict):
            out[key] = add_tally(out.get(key, {}), value)
        else:
            out[key] = out.get(key, 0) + value
    return out


class Collector:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self._keys: dict[tuple[int, str], SliceStats] = {}  # (slice, name)
        self._names: set[str] = set()
        self._changed: set[tuple[int, str]] = set()  # since the last series()
        self._buckets: dict[tuple[int, str], SliceBucket] = {}  # what series() answered
        self.service: dict[str, HdrHistogram] = {}
        self._lag = new_histogram()
        self.sent = 0
        self.late = 0  # started late through the generator's own fault
        self.starved = 0  # started late because every user was busy on the SUT (not invalid)
        self.unsent_starved = 0  # queued for a free user and never started (final records)
        # worker -> (flush time, earliest intended send in flight or None), scenario seconds;
        # a worker's final record removes it: all it sent is recorded
        self.in_flight: dict[int, tuple[float, float | None]] = {}
        # (worker, at, oldest), the recent flushes (diagnostics; bounded for a soak)
        self.in_flight_history: deque[tuple[int, float, float | None]] = deque(maxlen=4096)
        # scenario-time spans kept fine whatever their age (fault and recovery windows)
        self.fine_spans: list[tuple[float, float]] = []
        self._rolled: set[int] = set()  # coarse groups (slice // _GROUP) merged already
        self._next_group = math.ceil(FINE_FIRST_S * SLICES_PER_S / _GROUP)
        self._newest = -1  # newest slice seen
        self._reclaimed = time.monotonic()
        self.t0: float | None = None  # scenario second 0 (Unix), from LoadRun
        self.cpu_samples: dict[int, list[float]] = {}
        self.rss_mb_max = 0.0
        self.finals: dict[int, int] = {}  # worker -> scheduled
        self.start_at: float | None = None  # Unix time the schedule began
        self.errors: list[str] = []
        self.fatal: list[str] = []  # the workers could not start the schedule, and why
        # (flushes seen when it arrived, message): a user class that raised in a task
        self.user_errors: list[tuple[int, str]] = []
        self.mix_setup: list[str] = []  # "set-up: 60 users of ... ready in 7.2 s" per worker, class
        self.flushes = 0
        self.ws_events: list[dict[str, Any]] = []
        self.no_request: dict[str, int] = {}  # user class -> tasks that sent nothing
        self.missing: dict[str, dict[str, int]] = {}  # class -> request -> sends set-up lacked
        self.setup: dict[str, dict[str, Any]] = {}  # class -> set-up tally, summed over workers

    def poll(self) -> None:
        """Read what the workers appended since the last poll."""
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self._apply(json.loads(line))
        self._roll_up()
        if len(self._changed) > MAX_HOT:  # nobody asked for series() lately: stay small
            for key in self._changed:
                self._keys[key].compact()
        if time.monotonic() - self._reclaimed >= RECLAIM_EVERY_S:
            reclaim()
            self._reclaimed = time.monotonic()

    def _apply(self, record: dict[str, Any]) -> None:
        if record.get("type") == "error":
            self.errors.append(str(record["message"]))
            if record.get("fatal"):
                self.fatal.append(str(record["message"]))
            return
        if record.get("type") == "mix_setup":  # a mix's log-in figures, once per worker and class
            self.mix_setup.append(str(record["message"]))
            return
        if record.get("type") == "user_error":
            self.user_errors.append((self.flushes, str(record["message"])))
            return
        if record.get("type") == "setup":
            for name, tally in record["classes"].items():
                self.setup[name] = add_tally(self.setup.get(name, {}), tally)
            return
        self.flushes += 1
        for wire in record["buckets"]:
            delta = SliceStats.from_wire(wire)
            group = delta.slice // _GROUP
            rolled = group in self._rolled  # a late delta of a coarsened slice: merge it there
            key = (group * _GROUP if rolled else delta.slice, delta.name)
            self._newest = max(self._newest, delta.slice)
            stats = self._keys.get(key)
            if stats is None:
                stats = self._keys[key] = SliceStats(*key, width=_GROUP if rolled else 1)
                self._names.add(delta.name)
            stats.merge(delta)
            self._changed.add(key)
        for name, encoded in record["service"].items():
            self.service.setdefault(name, new_histogram()).add(decode(encoded))
        self.sent += record["sent"]
        self.late += record["late"]
        self.starved += record.get("starved", 0)
        self._note_in_flight(record)
        if record["lag"]:
            self._lag.add(decode(record["lag"]))
        if not record.get("final"):  # the final flush's CPU reading covers the wind-down
            self.cpu_samples.setdefault(record["worker"], []).append(record["cpu_percent"])
        self.rss_mb_max = max(self.rss_mb_max, record["rss_mb"])
        self.ws_events.extend(record["ws"])
        for name, count in record.get("no_request", {}).items():
            self.no_request[name] = self.no_request.get(name, 0) + int(count)
        for name, per_request in record.get("missing", {}).items():
            self.missing[name] = add_tally(self.missing.get(name, {}), per_request)
        if record.get("final"):
            self.finals[record["worker"]] = int(record["scheduled"])
            self.unsent_starved += int(record.get("unsent_starved", 0))
            if record.get("start_at") is not None:
                self.start_at = min(self.start_at or math.inf, float(record["start_at"]))

    def _roll_up(self) -> None:
        """Merge each old enough coarse group's slices into one bucket per name."""
        limit = self._newest - ROLL_AFTER_S * SLICES_PER_S
        while (self._next_group + 1) * _GROUP <= limit:
            group = self._next_group
            self._next_group += 1
            start_s, end_s = group * COARSE_S, (group + 1) * COARSE_S
            if any(a < end_s and start_s < z for a, z in self.fine_spans):
                continue
            self._rolled.add(group)
            first = group * _GROUP
            for name in self._names:
                parts = [self._keys.pop((i, name), None) for i in range(first, first + _GROUP)]
                found = [p for p in parts if p is not None]
                if not found:
                    continue
                coarse = self._keys[(first, name)] = SliceStats(first, name, width=_GROUP)
                for part in found:
                    coarse.merge(part)
                    self._buckets.pop((part.slice, name), None)
                    self._changed.discard((part.slice, name))
                coarse.compact()
                self._changed.add((first, name))

    def _note_in_flight(self, record: dict[str, Any]) -> None:
        worker = int(record["worker"])
        if record.get("final"):
            self.in_flight.pop(worker, None)
            return
        oldest = record.get("in_flight_from")
        at = float(record["at"]) - (self.t0 or 0.0)
        self.in_flight[worker] = (at, None if oldest is None else float(oldest))
        self.in_flight_history.append((worker, at, self.in_flight[worker][1]))

    def oldest_in_flight_s(self) -> float | None:
        """The earliest intended send (scenario seconds) some worker still had in flight at its
        latest flush (queued for a free user or waiting on the SUT); None when none had any.
        A slice starting at or after it may still gain samples (slow ones); before it, every
        send handed out by those flushes is recorded. Data as of the last `poll()`."""
        oldest = [o for _, o in self.in_flight.values() if o is not None]
        return min(oldest) if oldest else None

    def recorded_through_s(self, workers: int = 1) -> float | None:
        """Every send intended before this scenario time is in the data polled so far: per
        worker its oldest send in flight at its latest flush, else that flush's time (needs
        `t0`). math.inf once every worker sent its final record; None before each of
        `workers` has flushed once."""
        if len(self.finals) >= workers:
            return math.inf
        if len(self.in_flight) + len(self.finals) < workers:
            return None
        return min(
            at if oldest is None else min(oldest, at) for at, oldest in self.in_flight.values()
        )

    def slices(self) -> list[int]:
        return sorted({index for index, _ in self._keys})

    def seconds(self) -> list[int]:
        """Whole seconds with at least one slice recorded."""
        return sorted({index // SLICES_PER_S for index, _ in self._keys})

    def view(self, second: int) -> SecondView:
        """One second of the live view: its slices merged per name."""
        totals: dict[str, SliceStats] = {}
        for index in range(second * SLICES_PER_S, (second + 1) * SLICES_PER_S):
            for name in self._names:
                stats = self._keys.get((index, name))
                if stats is not None:
                    totals.setdefault(name, SliceStats(second, name)).merge(stats)
        names: dict[str, NameStats] = {}
        for name, total in totals.items():
            h = total.histogram()
            names[name] = NameStats(
                total.count,
                total.errors,
                h.get_value_at_percentile(50) / 1000,
                h.get_value_at_percentile(95) / 1000,
                h.get_value_at_percentile(99) / 1000,
            )
        return SecondView(second, names)

    def series(self) -> list[SliceBucket]:
        """Every (slice, name) so far, in order; only what changed since the last call is
        encoded again. The buckets are shared between calls: read them, do not change them."""
        new = sorted(key for key in self._changed if key not in self._buckets)
        in_order = not new or not self._buckets or new[0] > next(reversed(self._buckets))
        for key in new + [key for key in self._changed if key in self._buckets]:
            stats = self._keys[key]
            self._buckets[key] = stats.to_bucket()
            stats.compact()
        self._changed.clear()
        if not in_order:  # a key older than the newest: keep the dict in (slice, name) order
            self._buckets = dict(sorted(self._buckets.items()))
        return list(self._buckets.values())

    def lag(self) -> HdrHistogram:
        return self._lag

    def service_histograms(self) -> dict[str, str]:
        return {name: encode(h) for name, h in self.service.items()}
