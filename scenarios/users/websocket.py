"""WebSocket user: one client connection per user; one message per "ws" ticket.

It sends `{"type":"send","id",...}`, reads acks, deliveries and pings on a reader greenlet,
confirms each delivery with `{"type":"received"}`, answers pings, and reconnects with backoff
when the connection drops (the server replays the queue). Like the plan's resilient client, a
message that cannot go out while the connection is down waits in a bounded outbox and is sent,
under its own id, as soon as the connection is back; its latency still counts from the intended
send. Every step lands in the history (attempted / sent / failed / acked / received / reconnect,
with times) that `scenarios.load.wscheck` checks: a message still in the outbox when the run
ends (or that overflowed it) is failed, never skipped, and lowers delivered(ws).
Histograms: "WS send" = intended start -> ack (a failed send, or one never acknowledged by the
stop, is an error there), "WS deliver" = real send -> first receipt.
websocket-client is used because it is synchronous, so gevent's patched sockets drive it.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import Any, ClassVar

import gevent
import websocket
from locust import task

from scenarios.load.engine import Ticket
from scenarios.users.base import SetupRefused, TicketedUser, engine_of

BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
OUTBOX_MAX = 1000  # messages one client holds while disconnected; past it a send fails at once


class NotConnected(websocket.WebSocketException):
    """A send attempted while the connection is down; recorded as a failed send."""


class WebSocketUser(TicketedUser):
    ticket_kind = "ws"
    request_names: ClassVar[tuple[str, ...]] = ("WS send", "WS deliver")
    fixed_count = 1  # the worker sets it from LoadPlan.websocket_clients

    def on_start(self) -> None:
        self.client_id = f"cg-{uuid.uuid4().hex[:12]}"
        self.url = (self.host or "").replace("http", "ws", 1) + f"/ws/{self.client_id}"
        self.ws: websocket.WebSocket | None = None
        self.unacked: dict[str, tuple[Ticket, float]] = {}
        self.sent_at: dict[str, float] = {}
        self.received: set[str] = set()
        self.outbox: list[tuple[str, Ticket, float]] = []  # (id, ticket, first attempt)
        self.closing = False
        self.reader: gevent.Greenlet | None = None
        # before the schedule begins (paced, counted: set_up), so the first send is on time
        if self.set_up("WS connect", self._first_connect):
            self.reader = gevent.spawn(self._read_loop)
        super().on_start()

    def _first_connect(self) -> bool:
        if not self._connect(first=True):
            raise SetupRefused("no connection")
        return True

    def _connect(self, first: bool = False) -> bool:
        """Connect, retrying with backoff until the run's drain deadline (the first time, before
        the schedule begins: for `network_timeout`)."""
        timeout_s = float(getattr(self, "network_timeout", 10.0))
        deadline = time.time() + timeout_s
        for attempt in range(10_000):
            engine = getattr(self.environment, "chaosgate_engine", None)
            if engine is not None and not first:
                deadline = engine.end_at + engine.plan.drain_s
            if self.closing or time.time() > deadline:
                return False
            try:
                self.ws = websocket.create_connection(self.url, timeout=timeout_s)
                if engine is not None and not first:
                    engine.recorder.record_ws("reconnect", self.client_id, "", time.time())
                return True
            except (OSError, websocket.WebSocketException):
                gevent.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        return False

    def _send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        self.ws.send(json.dumps(frame))

    @task
    def send_message(self) -> None:
        """One scheduled message: attempted now, sent now or from the outbox after a reconnect."""
        ticket, recorder = self.ticket, engine_of(self).recorder
        assert ticket is not None
        message_id = uuid.uuid4().hex
        started = time.time()
        ticket.started = True
        recorder.record_send(ticket.intended, started)
        recorder.record_ws("attempted", self.client_id, message_id, started)
        if self.outbox or not self._send_message(message_id, ticket, started):
            self._hold(message_id, ticket, started)  # in order, behind what already waits

    def _send_message(self, message_id: str, ticket: Ticket, started: float) -> bool:
        """Write one message on the connection; False when it is down (the reader reconnects)."""
        now = time.time()
        try:
            if self.ws is None or not self.ws.connected:
                raise NotConnected("no WebSocket connection (reconnecting)")
            self.ws.send(
                json.dumps({"type": "send", "id": message_id, "payload": {"sent_at": now}})
            )
        except (OSError, websocket.WebSocketException):
            return False
        engine_of(self).recorder.record_ws("sent", self.client_id, message_id, now)
        self.unacked[message_id] = (ticket, started)
        self.sent_at[message_id] = now
        return True

    def _hold(self, message_id: str, ticket: Ticket, started: float) -> None:
        if len(self.outbox) >= OUTBOX_MAX:
            self._fail(message_id, ticket, started, "OutboxFull")
            return
        self.outbox.append((message_id, ticket, started))

    def _fail(self, message_id: str, ticket: Ticket, started: float, kind: str) -> None:
        recorder, now = engine_of(self).recorder, time.time()
        recorder.record_ws("failed", self.client_id, message_id, now, kind)
        recorder.record("WS send", ticket.intended, started, now - started, kind)

    def _flush_outbox(self) -> None:
        """After a reconnect: send what waited, oldest first, until the connection fails again."""
        while self.outbox:
            message_id, ticket, started = self.outbox[0]
            if not self._send_message(message_id, ticket, started):
                return
            self.outbox.pop(0)

    def _read_loop(self) -> None:
        while not self.closing:
            try:
                assert self.ws is not None
                frame = json.loads(self.ws.recv())
            except (OSError, websocket.WebSocketException, AssertionError, ValueError):
                self._drop()  # sends until the reconnect are failed, not written into a dead socket
                if self.closing or not self._connect():
                    return
                self._flush_outbox()
                continue
            self._handle(frame, time.time())

    def _handle(self, frame: dict[str, Any], now: float) -> None:
        engine = getattr(self.environment, "chaosgate_engine", None)
        if engine is None:  # a ping before the schedule began
            if frame.get("type") == "ping":
                self._try_send({"type": "pong", "t": frame.get("t")})
            return
        recorder = engine.recorder
        kind, message_id = frame.get("type"), str(frame.get("id", ""))
        if kind == "ack" and message_id in self.unacked:
            ticket, started = self.unacked.pop(message_id)
            recorder.record_ws("acked", self.client_id, message_id, now)
            recorder.record("WS send", ticket.intended, started, now - started)
            self._fire("WS send", (now - started) * 1000)
        elif kind == "message":
            recorder.record_ws("received", self.client_id, message_id, now)
            sent = self.sent_at.get(message_id)
            if sent is not None and message_id not in self.received:
                recorder.record("WS deliver", sent, sent, now - sent)
                self._fire("WS deliver", (now - sent) * 1000)
            self.received.add(message_id)
            self._try_send({"type": "received", "id": message_id})
        elif kind == "ping":
            self._try_send({"type": "pong", "t": frame.get("t")})

    def _drop(self) -> None:
        old, self.ws = self.ws, None
        if old is not None:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                # no close handshake on a connection already gone (untyped in websocket-client)
                old.shutdown()  # type: ignore[no-untyped-call]

    def _try_send(self, frame: dict[str, Any]) -> None:
        # a drop is the reader's to notice: it reconnects and the server replays
        with contextlib.suppress(OSError, websocket.WebSocketException, AssertionError):
            self._send(frame)

    def _fire(self, name: str, ms: float) -> None:
        """Locust's own stats (its UI); chaosgate's figures come from the recorder above."""
        self.environment.events.request.fire(
            request_type="WS", name=name, response_time=ms, response_length=0,
            exception=None, context={},
        )  # fmt: skip

    def on_stop(self) -> None:
        """Wait (bounded) for the outbox to empty and everything sent to be delivered, then
        close; a message still in the outbox is failed, one never acknowledged an error."""
        engine = engine_of(self)
        deadline = min(time.time() + engine.plan.drain_s, engine.end_at + engine.plan.drain_s)
        while (self.outbox or set(self.sent_at) - self.received) and time.time() < deadline:
            gevent.sleep(0.02)
        self.closing = True
        if self.ws is not None:
            self.ws.close()
        if self.reader is not None:
            self.reader.kill(block=False)
        for message_id, ticket, started in self.outbox:
            self._fail(message_id, ticket, started, "NotConnected")
        self.outbox.clear()
        now = time.time()
        for ticket, started in self.unacked.values():  # sent, never acknowledged: an error
            engine.recorder.record("WS send", ticket.intended, started, now - started, "NoAck")
        self.unacked.clear()
