"""No request left behind: a server stall that begins shortly before the run is stopped.

The bench server's `/_stall?ms=N` holds every response for N ms (its own answer too, so the
test sends it on a raw socket and reads no answer). The run is stopped ~0.6 s
into the stall, with ~60 requests (100 rps) waiting on the server. Before the fix they were
killed with their users and vanished (recorded max ~5 ms, run valid); now each one is either
drained (the stall ends within the stop drain) or recorded as a `stopped_in_flight` error with
latency = stop - intended start. Either way sent == recorded == what the server received.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hdrh.histogram import HdrHistogram

from load.conftest import Server
from reports.hdr import merge
from scenarios.load import LoadOutcome, LoadPlan, LoadRun
from scenarios.load.engine import STOPPED_IN_FLIGHT

pytestmark = pytest.mark.integration

RPS = 100
BEFORE_STOP_S = 0.6


def _at_least(histogram: HdrHistogram, ms: float) -> int:
    """How many samples are >= ms."""
    return sum(
        item.count_at_value_iterated_to
        for item in histogram.get_recorded_iterator()
        if item.value_iterated_to >= ms * 1000
    )


def _stop_during_stall(
    server: Server, out: Path, stall_ms: float, **fields: object
) -> tuple[LoadOutcome, float, float]:
    """-> (outcome, stall start, stop time): stop the run BEFORE_STOP_S into a stall."""
    plan = LoadPlan(
        **(
            {"users": ["ping"], "arrival": "constant", "rate": [{"rps": RPS, "hold_s": 60}]}
            | fields
        )
    )
    run = LoadRun(plan, server.url, time.time(), out, progress=False).start()
    deadline = time.time() + 30
    while run.latest_second() is None and time.time() < deadline:  # load is flowing
        time.sleep(0.05)
    url = urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port or 80), timeout=5) as control:
        began = time.time()  # the server's stall starts at or after this
        control.sendall(f"GET /_stall?ms={stall_ms:g} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        time.sleep(BEFORE_STOP_S)
        stopped_at = time.time()
        return run.stop(), began, stopped_at


@pytest.mark.parametrize("workers", [1, 2])
def test_requests_in_flight_at_stop_are_recorded_as_errors(
    http_server: Callable[..., Server], tmp_path: Path, workers: int
) -> None:
    """A 4 s stall, stop 0.6 s in, stop drain 1 s: the stalled requests become errors.
    Fails on the old code: no stopped_in_flight errors, max latency ~5 ms."""
    server = http_server()
    drain_s = 1.0
    outcome, stall_start, stopped_at = _stop_during_stall(
        server, tmp_path, 4_000, workers=workers, stop_drain_s=drain_s
    )
    kinds: dict[str, int] = {}
    for bucket in outcome.series:
        for kind, n in bucket.error_kinds.items():
            kinds[kind] = kinds.get(kind, 0) + n
    stopped = kinds.get(STOPPED_IN_FLIGHT, 0)
    # ~60 expected (0.6 s x 100 rps); generous for a shared 2-core machine
    assert stopped >= 0.6 * RPS * BEFORE_STOP_S, kinds
    assert kinds == {STOPPED_IN_FLIGHT: stopped}
    # every stalled request waited at least the drain after the stop; the first one also the
    # time it was stalled before the stop
    latency = merge([b.histogram for b in outcome.series])
    assert _at_least(latency, drain_s * 1000 * 0.95) == stopped
    assert outcome.max_ms() >= (stopped_at - stall_start + drain_s) * 1000 * 0.95
    # counts add up: every request the server received is recorded, once
    health = outcome.generator
    assert outcome.count() == health.sent == server.get("/_count")["count"]
    assert health.valid, health.reason


def test_requests_in_flight_at_stop_are_drained(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    """A 1.5 s stall, stop 0.6 s in, stop drain = request timeout (10 s): the stop waits for
    the stalled requests, which complete with their real latency. Fails on the old code."""
    server = http_server()
    outcome, _stall_start, _ = _stop_during_stall(server, tmp_path, 1_500)
    assert sum(b.errors for b in outcome.series) == 0
    latency = merge([b.histogram for b in outcome.series])
    # each request intended before the stop waited until the stall's end: >= 0.9 s
    assert _at_least(latency, 800) >= 0.6 * RPS * BEFORE_STOP_S
    assert outcome.max_ms() >= 1_500 * 0.95
    assert outcome.count() == outcome.generator.sent == server.get("/_count")["count"]
