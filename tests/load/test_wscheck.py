"""The WebSocket checker in Jepsen's terms, and `delivered(ws)` / `lost(ws)` read from it."""

from __future__ import annotations

from typing import Any

import pytest

from reports.kpi_eval import evaluate
from reports.kpi_parse import parse_kpi
from reports.model import ScenarioResult, WebSocketSummary
from scenarios.load.wscheck import check_history

pytestmark = pytest.mark.unit  # pure logic


def history(*steps: tuple[str, str], client: str = "c1") -> list[dict[str, Any]]:
    """(kind, id) pairs, one event per pair, 10 ms apart."""
    return [
        {"kind": kind, "client": client, "id": message_id, "t": 1000.0 + n / 100}
        | ({"error": "WebSocketConnectionClosedException"} if kind == "failed" else {})
        for n, (kind, message_id) in enumerate(steps)
    ]


def delivered_ok(message_id: str) -> list[tuple[str, str]]:
    return [("attempted", message_id), ("sent", message_id), ("acked", message_id),
            ("received", message_id)]  # fmt: skip


def kpi(expression: str, summary: WebSocketSummary) -> tuple[bool, float | None, str]:
    result = ScenarioResult(name="ws", status="pass", t0=0.0, duration_s=1.0, websocket=summary)
    verdict = evaluate(parse_kpi(expression), result)
    return verdict.passed, verdict.measured, verdict.message


def test_failed_sends_lower_delivered_and_fail_the_kpi() -> None:
    steps = [s for n in range(7) for s in delivered_ok(f"m{n}")]
    steps += [s for n in range(7, 10) for s in [("attempted", f"m{n}"), ("failed", f"m{n}")]]
    ws = check_history(history(*steps))
    assert (ws.attempted, ws.failed, ws.sent, ws.acknowledged, ws.received) == (10, 3, 7, 7, 7)
    assert ws.failed_errors == {"WebSocketConnectionClosedException": 3}
    assert ws.delivered_ratio == pytest.approx(0.7)
    assert ws.lost == []  # a refused send was never acknowledged: not a broken promise
    passed, measured, message = kpi("delivered(ws) >= 99%", ws)
    assert not passed
    assert measured == pytest.approx(70.0)
    assert "7 of 10 attempted received; 3 sends failed" in message
    assert kpi("lost(ws) == 0", ws)[0]


def test_sent_but_never_acknowledged_is_unacknowledged_not_delivered() -> None:
    steps = [s for n in range(3) for s in delivered_ok(f"m{n}")]
    steps += [("attempted", "m3"), ("sent", "m3"), ("attempted", "m4"), ("sent", "m4")]
    ws = check_history(history(*steps))
    assert ws.unacknowledged == ["c1/m3", "c1/m4"]
    assert (ws.sent, ws.acknowledged, ws.received) == (5, 3, 3)
    assert ws.lost == []
    assert ws.delivered_ratio == pytest.approx(0.6)


def test_an_attempt_cut_off_before_its_outcome_still_counts() -> None:
    ws = check_history(history(*delivered_ok("m0"), ("attempted", "m1")))
    assert (ws.attempted, ws.failed, ws.sent) == (2, 0, 1)
    assert ws.delivered_ratio == pytest.approx(0.5)


@pytest.mark.parametrize("events", [[], history(("reconnect", ""))])
def test_nothing_attempted_is_no_measurement_and_every_ws_kpi_fails(
    events: list[dict[str, Any]],
) -> None:
    ws = check_history(events)
    assert ws.attempted == 0
    assert ws.delivered_ratio is None
    for expression in ("delivered(ws) >= 99%", "lost(ws) == 0", "duplicated(ws) == 0"):
        passed, measured, message = kpi(expression, ws)
        assert (passed, measured) == (False, None), expression
        assert "nothing attempted" in message


def test_lost_counts_only_acknowledged_messages_never_received() -> None:
    steps = [*delivered_ok("m0"), ("attempted", "m1"), ("sent", "m1"), ("acked", "m1")]
    steps += [("attempted", "m2"), ("sent", "m2")]  # sent, no ack, never received: not lost
    steps += [("attempted", "m3"), ("failed", "m3")]  # refused: not lost
    ws = check_history(history(*steps))
    assert ws.lost == ["c1/m1"]
    assert ws.unacknowledged == ["c1/m2"]
    assert not kpi("lost(ws) == 0", ws)[0]
    assert kpi("lost(ws) <= 1", ws)[0]


def test_received_counts_our_ids_once_and_reports_the_rest() -> None:
    steps = [*delivered_ok("m0"), ("received", "m0"), ("received", "srv-1"), ("received", "x")]
    ws = check_history(history(*steps), server_ids=["srv-1"])
    assert ws.received == 1  # a duplicate and others' messages do not raise delivered
    assert ws.duplicated == ["c1/m0"]
    assert ws.unexpected == ["c1/x"]
    assert ws.delivered_ratio == 1.0


def test_histories_without_attempted_events_count_sent_and_failed_as_attempted() -> None:
    ws = check_history(
        history(("sent", "m0"), ("acked", "m0"), ("received", "m0"), ("failed", "m1"))
    )
    assert (ws.attempted, ws.sent, ws.failed) == (2, 1, 1)


def test_results_written_before_attempted_existed_still_load() -> None:
    old = {"sent": 200, "acknowledged": 200, "received": 199, "lost": ["a"], "duplicated": [],
           "unexpected": [], "reconnects": 0, "latency_histogram": None}  # fmt: skip
    ws = WebSocketSummary.model_validate(old)
    assert (ws.attempted, ws.failed, ws.unacknowledged) == (200, 0, [])
    assert ws.delivered_ratio == pytest.approx(0.995)
    assert WebSocketSummary.model_validate(ws.model_dump()) == ws
