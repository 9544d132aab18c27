"""Offline WebSocket client: messages are posted for it while it is disconnected, and it
connects only when the schedule ends, to collect them. This is the case the plan's durable
per-client queue exists for: a message the server acknowledged (202) for an offline client
must survive until the client comes back, a backend restart included.

Each scheduled send is one `POST /api/ws/{client_id}/messages`;
the 202's id is the message's id in the history (sent and acked at once). A post the backend
refuses (it is restarting) is retried, like a resilient producer, at the next send and at the
end; one that never got a 202 by the end is attempted and failed. In `on_stop` the client
connects, confirms every delivery and waits (bounded by the drain) until everything acknowledged
arrived: what never does is lost(ws).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import ClassVar

import gevent
import websocket
from locust import task

from scenarios.users.base import OpenModelUser, engine_of


class OfflineWebSocketUser(OpenModelUser):
    weight = 1
    request_names: ClassVar[tuple[str, ...]] = ("POST /api/ws/{client_id}/messages",)

    def on_start(self) -> None:
        self.client_id = f"cg-offline-{uuid.uuid4().hex[:12]}"
        self.acked: set[str] = set()
        self.pending: list[float] = []  # first-attempt times of posts not yet accepted
        super().on_start()

    @task
    def post_message(self) -> None:
        self.pending.append(time.time())
        self._post_pending()

    def _post_pending(self) -> None:
        """Post what waits, oldest first, until the backend refuses one. The history gets each
        message once its id is known: attempted at its first try, then sent and acked."""
        while self.pending:
            first = self.pending[0]
            message_id = self._post(first)
            if message_id is None:
                return
            self.pending.pop(0)
            recorder, now = engine_of(self).recorder, time.time()
            recorder.record_ws("attempted", self.client_id, message_id, first)
            for kind in ("sent", "acked"):
                recorder.record_ws(kind, self.client_id, message_id, now)
            self.acked.add(message_id)

    def _post(self, first_attempt: float) -> str | None:
        with self.client.post(
            f"/api/ws/{self.client_id}/messages",
            json={"first_attempt": first_attempt},
            name="POST /api/ws/{client_id}/messages",
            catch_response=True,
        ) as response:
            return _message_id(response.text) if response.status_code == 202 else None

    def on_stop(self) -> None:
        """Come online: read the queued messages until all acknowledged ones arrived."""
        engine = engine_of(self)
        deadline = min(time.time() + engine.plan.drain_s, engine.end_at + engine.plan.drain_s)
        while self.pending and time.time() < deadline:
            self._post_pending()
            if self.pending:
                gevent.sleep(0.2)  # the backend still refuses: retry, bounded by the drain
        for first in self.pending:  # never accepted: attempted and failed, never skipped
            local_id = f"unsent-{uuid.uuid4().hex}"
            engine.recorder.record_ws("attempted", self.client_id, local_id, first)
            engine.recorder.record_ws(
                "failed", self.client_id, local_id, time.time(), "NotAccepted"
            )
        self.pending.clear()
        if not self.acked:
            return
        url = (self.host or "").replace("http", "ws", 1) + f"/ws/{self.client_id}"
        received: set[str] = set()
        while self.acked - received and time.time() < deadline:
            with contextlib.suppress(OSError, websocket.WebSocketException, ValueError):
                connection = websocket.create_connection(
                    url, timeout=max(deadline - time.time(), 0.1)
                )
                try:
                    self._collect(connection, received, deadline)
                finally:
                    connection.close()

    def _collect(
        self, connection: websocket.WebSocket, received: set[str], deadline: float
    ) -> None:
        recorder = engine_of(self).recorder
        while self.acked - received and time.time() < deadline:
            connection.settimeout(max(deadline - time.time(), 0.05))
            frame = json.loads(connection.recv())
            if frame.get("type") == "message":
                message_id = str(frame.get("id", ""))
                recorder.record_ws("received", self.client_id, message_id, time.time())
                received.add(message_id)
                connection.send(json.dumps({"type": "received", "id": message_id}))
            elif frame.get("type") == "ping":
                connection.send(json.dumps({"type": "pong", "t": frame.get("t")}))


def _message_id(body: str) -> str | None:
    try:
        value = json.loads(body).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None
