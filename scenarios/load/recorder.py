"""What a load worker records, and the records it ships to the parent. Pure Python: no Locust.

Latency is recorded from the INTENDED send time, per request name per slice of the scenario
clock (`reports.model.SLICE_S`; the slice the send was intended in), into HDR histograms (µs). The worker ships
*deltas* (one `reports.stats.SliceStats` per slice and name, recorded since the last flush);
the parent adds them up, which is exact.

A send that starts late is the generator's fault ("late") unless it waited for a free user
while the dispatcher itself was on time ("starved": every slot was busy on a slow SUT, whose
latency already counts from the intended send). Starved sends in a flush interval where this
process wanted the CPU all along (`cpu_demand_percent` >= the plan's limit) are "late" again:
then the slots were busy because the generator could not serve them.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psutil
from hdrh.histogram import HdrHistogram

from reports.hdr import HIGHEST_US, LOWEST_US, encode, new_histogram
from reports.model import slice_of
from reports.stats import SliceStats
from scenarios.users.answers import judge_answer, marked


def clamp_us(seconds: float) -> int:
    return min(max(round(seconds * 1_000_000), LOWEST_US), HIGHEST_US)


class CpuDemand:
    """Share of wall time this process ran OR waited for a CPU (Linux /proc/self/schedstat:
    run time and run-queue wait, ns). Unlike CPU percent it reads ~100 % for a generator that
    is behind on a machine shared with other work; an idle one waiting on a slow SUT reads low."""

    PATH = "/proc/self/schedstat"

    def __init__(self, process: psutil.Process) -> None:
        self._process = process
        self._last = self._read()

    def _read(self) -> tuple[float, float] | None:
        try:
            with open(self.PATH, encoding="ascii") as handle:
                run_ns, wait_ns = (int(x) for x in handle.read().split()[:2])
            return time.monotonic(), (run_ns + wait_ns) / 1e9
        except (OSError, ValueError):
            return None

    def percent(self, cpu_percent: float) -> float:
        """Since the last call; falls back to CPU percent where schedstat is missing."""
        now, last = self._read(), self._last
        self._last = now
        if now is None or last is None or now[0] <= last[0]:
            return cpu_percent
        return max((now[1] - last[1]) / (now[0] - last[0]) * 100, cpu_percent)


class Recorder:
    """One per worker process. Call `record*` from the load loop and `flush()` every second."""

    def __init__(
        self, t0: float, tolerance_ms: float, worker: int, cpu_limit_percent: float = 95.0
    ) -> None:
        self.t0 = t0
        self.tolerance_s = tolerance_ms / 1000
        self.worker = worker
        self.cpu_limit_percent = cpu_limit_percent
        self._buckets: dict[tuple[int, str], SliceStats] = {}
        self._service: dict[str, HdrHistogram] = {}
        self._lag = new_histogram()
        self._sent = 0
        self._late = 0
        self._starved = 0
        self._ws_events: list[dict[str, Any]] = []
        # tasks that returned without a request, per user class; of them, those that had
        # nothing to act on because their set-up failed: class -> request name -> count
        self._no_request: dict[str, int] = {}
        self._missing: dict[str, dict[str, int]] = {}
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)  # prime: the first reading is meaningless
        self._demand = CpuDemand(self._process)
        self.busy = False  # the last flush interval's demand reached the CPU limit

    def slice_of(self, intended: float) -> int:
        return slice_of(intended - self.t0)

    def record_send(self, intended: float, started: float, queued_at: float | None = None) -> None:
        """A scheduled send started; how late it was is the generator's health. `queued_at`:
        when the dispatcher queued it because no user was free (None: handed to an idle user)."""
        lag = started - intended
        self._sent += 1
        self._lag.record_value(clamp_us(lag))
        if lag > self.tolerance_s:
            if queued_at is not None and queued_at - intended <= self.tolerance_s:
                self._starved += 1
            else:
                self._late += 1

    def record(
        self,
        name: str,
        intended: float,
        started: float,
        service_s: float,
        error: str | None = None,
        outcome: str | None = None,
        *,
        service: bool = True,
    ) -> None:
        """A request finished `service_s` after it really started (what a closed loop reports).
        `outcome`: timeout, degraded or wrong (reports.stats.OUTCOMES), None for the plain
        success or error that `error` says. `service=False`: no real request (a ticket queued at
        the stop), so not in the SUT's service times."""
        key = (self.slice_of(intended), name)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = SliceStats(*key)
        # from the intended start; a send started early (coalesced timers) counts from its start
        bucket.record(clamp_us(max(started - intended, 0.0) + service_s), error, outcome)
        if not service:
            return
        histogram = self._service.get(name)
        if histogram is None:
            histogram = self._service[name] = new_histogram()
        histogram.record_value(clamp_us(service_s))

    def record_no_request(self, user_class: str, missing: str | None = None) -> None:
        """A ticket's task returned without sending a request: not a late send (the generator
        was on time). `missing`: the request it could not send because its set-up failed (an
        API user with no item of its own): counted against the class's set-up."""
        self._no_request[user_class] = self._no_request.get(user_class, 0) + 1
        if missing is not None:
            per_class = self._missing.setdefault(user_class, {})
            per_class[missing] = per_class.get(missing, 0) + 1

    def record_ws(
        self, kind: str, client: str, message_id: str, at: float, error: str | None = None
    ) -> None:
        event: dict[str, Any] = {"kind": kind, "client": client, "id": message_id, "t": at}
        if error is not None:  # a "failed" send: why
            event["error"] = error
        self._ws_events.append(event)

    def flush(
        self,
        final: bool = False,
        scheduled: int | None = None,
        start_at: float | None = None,
        oldest_in_flight: float | None = None,
        unsent_starved: int = 0,
    ) -> dict[str, Any]:
        """The delta since the last flush as one JSON-able record; resets what it ships.

        `oldest_in_flight`: the earliest intended send (Unix time) handed out and not finished
        (queued or waiting on the SUT) at this flush; shipped as scenario seconds, so the parent
        knows which intended-send slices may still change. `unsent_starved` (final): tickets
        that waited for a free user and never started."""
        cpu = self._process.cpu_percent(None)
        demand = self._demand.percent(cpu)
        if not final:  # the final interval is the wind-down, not a second of load
            self.busy = demand >= self.cpu_limit_percent
        if self.busy:  # slots were busy because this process could not serve them
            self._late, self._starved = self._late + self._starved, 0
            unsent_starved = 0
        record: dict[str, Any] = {
            "type": "data",
            "worker": self.worker,
            "at": time.time(),
            "buckets": [b.to_wire() for _, b in sorted(self._buckets.items())],
            "service": {name: encode(h) for name, h in self._service.items()},
            "sent": self._sent,
            "late": self._late,
            "starved": self._starved,
            "lag": encode(self._lag) if self._sent else None,
            "cpu_percent": cpu,
            "cpu_demand_percent": demand,
            "in_flight_from": None if oldest_in_flight is None else oldest_in_flight - self.t0,
            "rss_mb": self._process.memory_info().rss / 2**20,
            "ws": self._ws_events,
        }
        if self._no_request:
            record["no_request"] = self._no_request
            record["missing"] = self._missing
        if final:
            record["final"] = True
            record["scheduled"] = scheduled
            record["start_at"] = start_at  # when this worker's schedule began (Unix time)
            record["unsent_starved"] = unsent_starved
        self._buckets = {}
        self._service = {}
        self._lag = new_histogram()
        self._sent = self._late = self._starved = 0
        self._ws_events = []
        self._no_request, self._missing = {}, {}
        return record


def _timed_out(error: BaseException | None) -> bool:
    """The client gave up waiting: gevent's Timeout (FastHttpUser), socket/asyncio
    TimeoutError, requests' ReadTimeout/ConnectTimeout, or one of these as a cause (or as
    geventhttpclient's `original` when it gave up retrying). By class
    name so this module imports neither Locust nor an HTTP client."""
    seen = 0
    while error is not None and seen < 5:
        names = {cls.__name__ for cls in type(error).__mro__}
        if names & {"Timeout", "TimeoutError", "timeout", "ReadTimeout", "ConnectTimeout"}:
            return True
        # geventhttpclient wraps the last try's error: RetriesExceeded(original=timeout)
        inner = getattr(error, "original", None)
        if not isinstance(inner, BaseException):
            inner = error.__cause__ or error.__context__
        error, seen = inner, seen + 1
    return False


def outcome_of(
    name: str, exception: BaseException | None, response: Any
) -> tuple[str | None, str | None]:
    """(error kind, outcome) of one finished request. A client timeout is `timeout` whatever
    the task made of it: a `catch_response` block that called `failure()` on it (a mix's
    "status 0", a user class's own check) reports a CatchResponseError, but the response
    still holds the client's own error. An accepted answer is judged by the response rules of
    its name (scenarios.users.answers); a task may mark it itself (`failure("degraded: ...")`)."""
    if _timed_out(exception) or _timed_out(getattr(response, "error", None)):
        return "timeout", "timeout"
    kind = marked(exception)
    if kind is not None:
        return None, kind
    error = error_kind(exception, response)
    if error is not None:
        return error, None
    return None, judge_answer(name, response)


def error_kind(exception: BaseException | None, response: Any) -> str | None:
    """None for a success: Locust sets `exception` for a 4xx/5xx unless the task accepted it
    (`catch_response` + `success()`, e.g. a mix's `expect: [404]`)."""
    if exception is None:
        return None
    status = getattr(response, "status_code", 0) or 0
    if status:
        return f"http_{status}"  # a refused status, or one the task marked as a failure
    return type(exception).__name__
