"""The WebSocket KPIs can fail: messages acknowledged (202) for an OFFLINE client, then a backend
restart, then the client connects. With the durable queue every one is replayed; with
`websocket.queue_enabled: false` (the weakened SUT) they are lost and `lost(ws) == 0` breaks.

A Python scenario (the gate's Python API): the shipped ws-restart YAML cannot show this loss,
because its WebSocket users are always connected, so nothing acknowledged waits in a queue
when the backend dies.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from chaosgate.settings import load_settings
from fixtures.backends import open_stack
from fixtures.faults import FaultContext, build_fault
from reports.kpi_eval import evaluate_all
from reports.kpi_parse import parse_kpi
from reports.model import ScenarioResult, WebSocketSummary

pytestmark = [pytest.mark.scenario, pytest.mark.integration]

KPIS = ["lost(ws) == 0", "delivered(ws) >= 99%"]
MESSAGES = 300  # delivered(ws) >= 99% needs 268 messages (its Wilson floor, issue 20)


def collect(base_url: str, client_id: str, expected: set[str], timeout_s: float) -> set[str]:
    """Connect and read deliveries (confirming each) until all expected arrived or it goes quiet."""
    received: set[str] = set()
    deadline = time.monotonic() + timeout_s
    with connect(base_url.replace("http://", "ws://") + f"/ws/{client_id}") as socket:
        while time.monotonic() < deadline and not expected <= received:
            try:
                frame = json.loads(socket.recv(timeout=2.0))
            except (TimeoutError, ConnectionClosed):
                break
            if frame.get("type") == "message":
                received.add(str(frame["id"]))
                socket.send(json.dumps({"type": "received", "id": frame["id"]}))
            elif frame.get("type") == "ping":
                socket.send(json.dumps({"type": "pong", "t": frame.get("t")}))
    return received


@pytest.mark.parametrize(
    ("queue_enabled", "broken"), [(True, []), (False, ["lost(ws) == 0", "delivered(ws) >= 99%"])]
)
def test_offline_messages_survive_a_backend_restart_only_with_the_queue(
    queue_enabled: bool, broken: list[str]
) -> None:
    settings = load_settings()
    overrides = {"websocket.queue_enabled": queue_enabled}
    with open_stack(settings, "local", sut_overrides=overrides, report=lambda _line: None) as stack:
        client_id = f"gate-offline-{int(queue_enabled)}"
        acked = []
        with httpx.Client(base_url=stack.sut_direct_url, timeout=5) as http:
            for n in range(MESSAGES):
                response = http.post(f"/api/ws/{client_id}/messages", json={"n": n})
                assert response.status_code == 202, response.text
                acked.append(str(response.json()["id"]))
        with build_fault("restart", "backend", {}).active(FaultContext(stack, settings.timeouts)):
            pass
        received = collect(stack.sut_url, client_id, set(acked), timeout_s=15)
    summary = WebSocketSummary(
        sent=MESSAGES,
        acknowledged=MESSAGES,
        received=len(received),
        lost=[m for m in acked if m not in received],
    )
    result = ScenarioResult(
        name="ws-offline-restart", status="pass", t0=0.0, duration_s=1.0, websocket=summary
    )
    verdicts = evaluate_all([parse_kpi(k) for k in KPIS], result)
    assert [v.expression for v in verdicts if not v.passed] == broken, [v.message for v in verdicts]
