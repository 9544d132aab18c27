"""WebSocket delivery across forced disconnects and a real backend process restart.

The client here speaks the SUT's WebSocket protocol and keeps a history: which ids were acknowledged (an `ack` frame, or a
202 from the POST endpoint) and every delivery per connection. Acknowledged but never delivered =
lost. The weakened mode (`websocket.queue_enabled: false`) must show loss, proving the check bites.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sut_mcp_ws_support import start_role, wait_ready
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chaosgate.processes import ManagedProcess
from fixtures.local.services import LocalService
from sut.config import SutSettings, load_sut_settings

pytestmark = pytest.mark.integration

MESSAGES = 100
DISCONNECT_EVERY = 10  # → 10 forced disconnects
RESTART_AFTER = 49  # the backend process restarts after message 49's disconnect
WITHHELD = range(40, 50)  # deliveries the client does not confirm before the restart
POSTED_PER_SIDE = 5  # server-originated messages POSTed before and after the restart
ACK_TIMEOUT_S = 5.0
DRAIN_TIMEOUT_S = 20.0
WEAK_DRAIN_S = 3.0


@dataclass
class History:
    acked: set[str] = field(default_factory=set)
    deliveries: Counter[str] = field(default_factory=Counter)
    per_connection: list[list[str]] = field(default_factory=list)
    payloads: dict[str, Any] = field(default_factory=dict)
    withhold: set[str] = field(default_factory=set)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    connections_before_restart: int = 0

    def delivered_after_restart(self) -> set[str]:
        return {m for seen in self.per_connection[self.connections_before_restart :] for m in seen}

    @property
    def lost(self) -> set[str]:
        return self.acked - set(self.deliveries)

    @property
    def unexpected(self) -> set[str]:
        return set(self.deliveries) - self.acked - {f"m{i:03d}" for i in range(MESSAGES)}


class C3Client:
    """One logical client that reconnects; frames handled by a reader task per connection."""

    def __init__(self, url: str, history: History) -> None:
        self.url = url
        self.history = history
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.acks: dict[str, asyncio.Event] = {}
        self.connections = 0

    async def connect(self) -> None:
        self.ws = await connect(self.url, open_timeout=10)
        self.connections += 1
        self.history.per_connection.append([])
        self.reader = asyncio.create_task(self._read(self.ws, self.history.per_connection[-1]))

    async def _read(self, ws: ClientConnection, seen: list[str]) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in ws:
                frame = json.loads(text)
                kind = frame["type"]
                if kind == "ack":
                    self.history.acked.add(frame["id"])
                    self.acks.setdefault(frame["id"], asyncio.Event()).set()
                elif kind == "message":
                    message_id = frame["id"]
                    seen.append(message_id)
                    self.history.deliveries[message_id] += 1
                    self.history.progress.set()
                    previous = self.history.payloads.setdefault(message_id, frame["payload"])
                    assert previous == frame["payload"], f"{message_id} redelivered changed"
                    assert isinstance(frame["sent_at"], float)
                    if message_id not in self.history.withhold:
                        await ws.send(json.dumps({"type": "received", "id": message_id}))
                elif kind == "ping":
                    await ws.send(json.dumps({"type": "pong", "t": frame["t"]}))

    async def drop(self) -> None:
        """An abrupt disconnect: the TCP connection is aborted, no close handshake."""
        if self.ws is not None:
            self.ws.transport.abort()
        if self.reader is not None:
            with contextlib.suppress(Exception):
                await self.reader
        self.ws = self.reader = None

    async def send_until_acked(self, n: int) -> None:
        message_id = f"m{n:03d}"
        event = self.acks.setdefault(message_id, asyncio.Event())
        for _ in range(5):  # bounded resends, each after a reconnect
            if self.ws is None:
                await self.connect()
            assert self.ws is not None
            with contextlib.suppress(ConnectionClosed):
                frame = {"type": "send", "id": message_id, "payload": {"n": n}}
                await self.ws.send(json.dumps(frame))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(ACK_TIMEOUT_S):
                        await event.wait()
                        return
            await self.drop()
        raise AssertionError(f"{message_id} never acknowledged")


@dataclass
class Backend:
    settings: SutSettings
    process: ManagedProcess

    @property
    def base(self) -> str:
        return f"http://{self.settings.service.host}:{self.settings.service.port}"

    def restart(self) -> None:
        """A real process restart: SIGTERM (graceful), then a new process on the same port."""
        self.process.stop(self.settings.service.shutdown_timeout_s + 5)
        self.process.start()
        wait_ready(self.process, f"{self.base}/api/health")

    def post(self, client_id: str, payload: dict[str, Any]) -> str:
        response = httpx.post(f"{self.base}/api/ws/{client_id}/messages", json=payload, timeout=5)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])


def _backend(config: Path, workdir: Path) -> Iterator[Backend]:
    settings = load_sut_settings(config)
    base = f"http://{settings.service.host}:{settings.service.port}"
    process = start_role(config, "backend", workdir, ready_url=f"{base}/api/health")
    try:
        yield Backend(settings, process)
    finally:
        process.stop(10)


@pytest.fixture
def backend(sut_config_factory: Callable[..., Path], sut_workdir: Path) -> Iterator[Backend]:
    yield from _backend(sut_config_factory(), sut_workdir)


@pytest.fixture
def weak_backend(sut_config_factory: Callable[..., Path], sut_workdir: Path) -> Iterator[Backend]:
    yield from _backend(sut_config_factory({"websocket.queue_enabled": False}), sut_workdir)


async def run_history(
    backend: Backend, client_id: str, drain_timeout_s: float
) -> tuple[History, C3Client]:
    history = History(withhold={f"m{i:03d}" for i in WITHHELD})
    client = C3Client(
        f"ws://{backend.settings.service.host}:{backend.settings.service.port}/ws/{client_id}",
        history,
    )
    drops = 0
    for n in range(MESSAGES):
        await client.send_until_acked(n)
        if n % DISCONNECT_EVERY == DISCONNECT_EVERY - 1:
            await client.drop()
            drops += 1
        if n == RESTART_AFTER:
            # While disconnected: server-originated messages (acknowledged by the 202), then a real
            # restart of the backend process, then more messages before the client comes back.
            for k in range(POSTED_PER_SIDE):
                history.acked.add(backend.post(client_id, {"posted": f"before-{k}"}))
            history.connections_before_restart = len(history.per_connection)
            await asyncio.to_thread(backend.restart)
            for k in range(POSTED_PER_SIDE):
                history.acked.add(backend.post(client_id, {"posted": f"after-{k}"}))
            history.withhold.clear()  # from now on the client confirms everything
    assert drops == MESSAGES // DISCONNECT_EVERY
    # Drain: one more connection replays whatever is still queued.
    await client.connect()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(drain_timeout_s):
            while history.lost:
                history.progress.clear()
                await history.progress.wait()
    await client.drop()
    return history, client


async def test_every_acknowledged_message_is_delivered(backend: Backend) -> None:
    history, client = await run_history(backend, "client-a", DRAIN_TIMEOUT_S)
    client_ids = {f"m{i:03d}" for i in range(MESSAGES)}
    assert client_ids <= history.acked
    assert len(history.acked) == MESSAGES + 2 * POSTED_PER_SIDE
    assert history.lost == set(), f"lost {sorted(history.lost)}"
    assert history.unexpected == set()
    # Withheld deliveries were still queued across the restart and replayed after it.
    withheld = {f"m{i:03d}" for i in WITHHELD}
    assert withheld <= history.delivered_after_restart()
    # In order within each connection: client messages arrive in send order.
    for seen in history.per_connection:
        numbers = [int(m[1:]) for m in seen if m in client_ids]
        firsts = list(dict.fromkeys(numbers))
        assert firsts == sorted(firsts), f"out of order on one connection: {firsts}"
    assert client.connections >= MESSAGES // DISCONNECT_EVERY + 1


async def test_weakened_mode_loses_messages_on_restart(weak_backend: Backend) -> None:
    # Whatever an in-memory queue still holds arrives within milliseconds of the reconnect.
    history, _ = await run_history(weak_backend, "client-b", WEAK_DRAIN_S)
    posted_before = {
        m for m, p in history.payloads.items() if str(p.get("posted", "")).startswith("before")
    }
    assert history.lost, "the in-memory queue should lose messages across a restart"
    assert len(history.lost) >= POSTED_PER_SIDE  # everything POSTed before the restart
    assert not posted_before  # none of them was ever delivered
    withheld = {f"m{i:03d}" for i in WITHHELD}
    assert not withheld & history.delivered_after_restart()  # nothing replayed after the restart


async def test_heartbeat_timeout_closes_a_silent_client(backend: Backend) -> None:
    url = f"ws://{backend.settings.service.host}:{backend.settings.service.port}/ws/silent"
    timeout = backend.settings.websocket.heartbeat_timeout_s
    interval = backend.settings.websocket.heartbeat_interval_s
    loop = asyncio.get_running_loop()
    async with connect(url, open_timeout=10) as ws:
        started = loop.time()
        pings = 0
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(timeout + 3 * interval + 5):
                async for text in ws:  # never answer a ping
                    pings += json.loads(text)["type"] == "ping"
        elapsed = loop.time() - started
        assert ws.close_code == 1008
    assert pings >= 1
    # Closed at the first heartbeat tick past the timeout; tolerance 0.5 s below (the server
    # starts its clock at accept, before ours) and one period + 2 s of scheduling noise above.
    assert timeout - 0.5 <= elapsed <= timeout + interval + 2


async def test_post_endpoint_enqueues_for_a_connected_client(backend: Backend) -> None:
    url = f"ws://{backend.settings.service.host}:{backend.settings.service.port}/ws/posted"
    async with connect(url, open_timeout=10) as ws:
        message_id = await asyncio.to_thread(backend.post, "posted", {"hello": "world"})
        async with asyncio.timeout(5):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "message":
                    break
        assert (frame["id"], frame["payload"]) == (message_id, {"hello": "world"})
        await ws.send(json.dumps({"type": "received", "id": message_id}))


async def test_no_ack_without_a_durable_append(
    backend: Backend, redis_server: LocalService
) -> None:
    url = f"ws://{backend.settings.service.host}:{backend.settings.service.port}/ws/no-redis"
    await asyncio.to_thread(redis_server.kill)
    async with connect(url, open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "send", "id": "x1", "payload": {}}))
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] in ("ack", "error"):
                    break
    assert frame["type"] == "error", frame  # Redis is down: not queued, so not acknowledged
    assert frame["id"] == "x1"


async def test_queued_messages_survive_a_redis_kill(
    backend: Backend, redis_server: LocalService
) -> None:
    """An acknowledged message is in Redis's append-only file before the ack (Redis writes the
    AOF before it replies), so SIGKILL and a restart lose nothing an offline client was owed."""
    posted = [await asyncio.to_thread(backend.post, "offline", {"n": n}) for n in range(20)]
    await asyncio.to_thread(redis_server.kill)
    assert not redis_server.is_running()
    await asyncio.to_thread(redis_server.restart)
    url = f"ws://{backend.settings.service.host}:{backend.settings.service.port}/ws/offline"
    delivered: set[str] = set()
    async with connect(url, open_timeout=10) as ws:
        with contextlib.suppress(TimeoutError):  # the pool reconnects; the breaker may wait
            async with asyncio.timeout(20):
                while delivered != set(posted):
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "message":
                        delivered.add(frame["id"])
                        await ws.send(json.dumps({"type": "received", "id": frame["id"]}))
                    elif frame["type"] == "ping":
                        await ws.send(json.dumps({"type": "pong", "t": frame["t"]}))
    assert set(posted) - delivered == set()
