"""ResilientWebSocketManager: the server side of the WebSocket delivery protocol.

Per connection three tasks share one socket: the receiver (send → durable append → ack;
received → remove; pong → alive), the deliverer (queued messages in order; on a new connection it
starts from the head of the queue, which is the replay), and the heartbeat (ping every interval;
no frame from the client within the timeout → close). Messages leave the queue only on `received`,
so a disconnect or a backend restart loses nothing that was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from sut.config import WebSocketSettings
from sut.errors import SutError
from sut.ws.store import (
    MemoryMessageStore,
    MessageStore,
    RedisMessageStore,
    RedisSource,
    new_message,
)

log = logging.getLogger(__name__)

READ_BATCH = 200  # messages fetched from the queue per read
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008  # heartbeat timeout: the client stopped answering


class _Connection:
    def __init__(self, manager: ResilientWebSocketManager, ws: WebSocket, client: str) -> None:
        self.manager = manager
        self.ws = ws
        self.client = client
        self.wake = asyncio.Event()
        self.last_seen = time.monotonic()
        self._send_lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any] | str) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        async with self._send_lock:
            await self.ws.send_text(text)

    async def receive_loop(self) -> None:
        store = self.manager.store
        while True:
            text = await self.ws.receive_text()
            self.last_seen = time.monotonic()
            try:
                frame = json.loads(text)
                kind = frame["type"]
            except (ValueError, KeyError, TypeError):
                await self.send({"type": "error", "detail": "expected a JSON object with a type"})
                continue
            if kind == "send":
                await self._on_send(frame)
            elif kind == "received":
                try:
                    await store.remove(self.client, str(frame.get("id")))
                except SutError as error:  # stays queued; redelivered later with the same id
                    await self.send(
                        {"type": "error", "id": frame.get("id"), "detail": error.detail}
                    )
                await self.manager.refresh_depth()
            elif kind != "pong":
                await self.send({"type": "error", "detail": f"unknown frame type {kind!r}"})

    async def _on_send(self, frame: dict[str, Any]) -> None:
        message_id = frame.get("id")
        if not isinstance(message_id, str) or not message_id:
            await self.send({"type": "error", "detail": "send needs a non-empty string id"})
            return
        try:
            await self.manager.enqueue(self.client, frame.get("payload"), message_id)
        except SutError as error:  # not queued, so no ack: the client must resend
            await self.send({"type": "error", "id": message_id, "detail": error.detail})
            return
        await self.send({"type": "ack", "id": message_id})

    async def deliver_loop(self) -> None:
        cursor: str | None = None  # None = head of the queue: a new connection replays everything
        while True:
            self.wake.clear()
            try:
                batch = await self.manager.store.read_after(self.client, cursor, READ_BATCH)
            except SutError as error:  # Redis down or breaker open: keep the socket, retry later
                log.info("ws client %s: queue read failed: %s", self.client, error.detail)
                batch = []
            for entry, message in batch:
                await self.send(message.frame())
                cursor = entry
            if len(batch) < READ_BATCH:
                # Woken by an enqueue in this process; the timeout covers other writers.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.manager.settings.heartbeat_interval_s):
                        await self.wake.wait()

    async def heartbeat_loop(self) -> None:
        interval = self.manager.settings.heartbeat_interval_s
        timeout = self.manager.settings.heartbeat_timeout_s
        while True:
            await asyncio.sleep(interval)  # the heartbeat period
            if time.monotonic() - self.last_seen > timeout:
                log.info("ws client %s silent for %.1fs: closing", self.client, timeout)
                await self.ws.close(code=CLOSE_POLICY, reason="heartbeat timeout")
                return
            await self.send({"type": "ping", "t": time.time()})


class ResilientWebSocketManager:
    def __init__(self, connections: RedisSource, settings: WebSocketSettings) -> None:
        self.settings = settings
        self.store: MessageStore = (
            RedisMessageStore(connections, settings.queue_max)
            if settings.queue_enabled
            else MemoryMessageStore(settings.queue_max)
        )
        self._live: dict[str, set[_Connection]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._depth = 0

    async def start(self) -> None:
        await self.refresh_depth()

    async def close(self) -> None:
        """Close every live socket (clients reconnect elsewhere / after restart)."""
        for connection in [c for group in self._live.values() for c in group]:
            with contextlib.suppress(Exception):  # the socket may already be gone
                await connection.ws.close(code=CLOSE_GOING_AWAY, reason="server shutting down")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def queue_depth(self) -> int:
        """Messages queued across clients, as last read (the `sut_ws_queue_depth` gauge)."""
        return self._depth

    async def refresh_depth(self) -> None:
        with contextlib.suppress(Exception):  # a metric must never fail a request
            self._depth = await self.store.depth()

    async def enqueue(self, client: str, payload: Any, message_id: str | None = None) -> str:
        """Durably queue a message for `client` and wake its live connections; returns the id."""
        message_id = message_id or uuid.uuid4().hex
        await self.store.append(client, new_message(message_id, payload))
        for connection in self._live.get(client, ()):
            connection.wake.set()
        await self.refresh_depth()
        return message_id

    async def handle(self, ws: WebSocket, client: str) -> None:
        await ws.accept()
        connection = _Connection(self, ws, client)
        self._live.setdefault(client, set()).add(connection)
        loops = [connection.receive_loop(), connection.deliver_loop(), connection.heartbeat_loop()]
        tasks = [asyncio.create_task(loop) for loop in loops]
        self._tasks.update(tasks)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = task.exception() if not task.cancelled() else None
                if error is not None and not isinstance(error, WebSocketDisconnect | RuntimeError):
                    log.warning("ws client %s: %r", client, error)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
            self._live[client].discard(connection)
            if not self._live[client]:
                del self._live[client]
            if ws.client_state == WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):  # the peer may have gone already
                    await ws.close(code=CLOSE_GOING_AWAY)
