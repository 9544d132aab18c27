"""The WebSocket user against a queue server speaking the SUT's protocol: real frames, real reconnects, real history."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from load.conftest import Server
from reports.hdr import decode
from reports.kpi_eval import evaluate
from reports.kpi_parse import parse_kpi
from reports.model import ScenarioResult
from scenarios.load import LoadOutcome, LoadPlan, LoadRun

pytestmark = pytest.mark.integration


def ws_run(
    server: Server, out: Path, clients: int = 3, rps: float = 30, hold_s: float = 3
) -> LoadOutcome:
    plan = LoadPlan(
        users=["websocket"],
        rate=[{"rps": 1, "hold_s": hold_s}],  # the length of the run; no HTTP users
        websocket_clients=clients,
        websocket_rps=rps,
    )
    return LoadRun(plan, server.url, time.time(), out).start().wait()


def test_every_acknowledged_message_arrives_with_real_latency(
    ws_server: Callable[..., Server], tmp_path: Path
) -> None:
    outcome = ws_run(ws_server(), tmp_path)
    ws = outcome.websocket
    assert ws is not None
    assert outcome.generator.valid, outcome.generator.reason
    assert ws.attempted == ws.sent == 90
    assert ws.acknowledged == ws.received == ws.sent
    assert (ws.failed, ws.unacknowledged) == (0, [])
    assert ws.delivered_ratio == 1.0
    assert (ws.lost, ws.duplicated, ws.unexpected) == ([], [], [])
    latency = decode(ws.latency_histogram or "")
    assert latency.get_total_count() == 90
    assert latency.get_min_value() > 0  # real send -> receive time, not Locust contrib's 0 ms
    assert outcome.count("WS send") == outcome.count("WS deliver") == 90


def test_planted_server_loss_is_found(ws_server: Callable[..., Server], tmp_path: Path) -> None:
    outcome = ws_run(ws_server("--lose-every", "10"), tmp_path)
    ws = outcome.websocket
    assert ws is not None
    assert len(ws.lost) == 9  # every 10th of 90 acknowledged, never delivered
    assert ws.received == 81


def test_dropped_connections_reconnect_and_replay_without_loss(
    ws_server: Callable[..., Server], tmp_path: Path
) -> None:
    outcome = ws_run(ws_server("--drop-every", "15"), tmp_path)
    ws = outcome.websocket
    assert ws is not None
    assert ws.reconnects >= 5
    assert ws.lost == []
    assert ws.received == ws.acknowledged


def test_server_originated_messages_are_expected_once_declared(
    ws_server: Callable[..., Server], tmp_path: Path
) -> None:
    def run(declare: bool, out: Path) -> LoadOutcome:
        plan = LoadPlan(
            users=["websocket"], rate=[{"rps": 1, "hold_s": 2}], websocket_clients=2,
            websocket_rps=20,
        )  # fmt: skip
        load = LoadRun(plan, server.url, time.time(), out).start()
        if declare:  # the ids a scenario step got back when it posted them
            load.expect_server_messages(f"srv-{n}" for n in range(1, 1000))
        return load.wait()

    server = ws_server("--push-every", "5")
    undeclared = run(False, tmp_path / "undeclared").websocket
    assert undeclared is not None
    assert len(undeclared.unexpected) == 8  # 40 client messages, a push after every 5th
    assert all("/srv-" in label for label in undeclared.unexpected)
    declared = run(True, tmp_path / "declared").websocket
    assert declared is not None
    assert declared.unexpected == []
    assert (declared.lost, declared.duplicated) == ([], [])
    assert declared.received == declared.sent  # ours only: pushes do not raise delivered(ws)


def test_a_backend_outage_that_outlasts_the_run_fails_delivered(
    ws_server: Callable[..., Server], tmp_path: Path
) -> None:
    """The server drops every client after the 30th message and refuses connections for the
    rest of the run: what the clients held in their outboxes never went out, so delivered(ws)
    >= 99% must fail. (Before the Jepsen accounting, a send that raised was not counted and this
    read 100 %.)"""
    outcome = ws_run(ws_server("--outage-after", "30", "--outage-s", "60"), tmp_path,
                     rps=20, hold_s=6)  # fmt: skip
    ws = outcome.websocket
    assert ws is not None
    result = ScenarioResult(name="ws-outage", status="pass", t0=0.0, duration_s=6.0, websocket=ws)
    verdict = evaluate(parse_kpi("delivered(ws) >= 99%"), result)
    assert not verdict.passed, verdict.message
    assert verdict.measured is not None
    assert verdict.measured < 99.0
    assert ws.attempted == ws.failed + ws.sent == 120
    assert ws.failed >= 60  # everything after the 30th message (less what was in flight)
    assert ws.failed_errors.get("NotConnected", 0) >= 60
    # the failures are sends never made; at most the few acknowledged just before the drop are
    # lost (the server never comes back to deliver them)
    assert len(ws.lost) <= 3
    send_errors = sum(b.errors for b in outcome.series if b.name == "WS send")
    assert send_errors >= ws.failed  # the request record counts them as errors too


def test_a_short_outage_is_latency_not_loss(
    ws_server: Callable[..., Server], tmp_path: Path
) -> None:
    """A 2.5 s outage mid-run: the clients hold their messages and send them once reconnected
    (as the plan's resilient client does), so all are delivered, late: the outage shows in the
    "WS send" latency from the intended send, not as loss."""
    outcome = ws_run(ws_server("--outage-after", "30", "--outage-s", "2.5"), tmp_path,
                     rps=20, hold_s=6)  # fmt: skip
    ws = outcome.websocket
    assert ws is not None
    assert ws.attempted == 120
    assert (ws.failed, ws.lost) == (0, [])
    assert ws.delivered_ratio == 1.0
    assert ws.reconnects >= 3
    assert outcome.max_ms("WS send") >= 2000  # held through the outage, timed from the schedule
