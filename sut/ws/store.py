"""Per-client message queues: durable in Redis streams, or in memory (the weakened mode).

Redis layout per client: a stream `ws:s:{client}` holds messages in order; a hash `ws:i:{client}`
maps message id → stream entry id (idempotent appends, removal by message id). `ws:depth` counts
queued messages across clients. Each operation is one Lua script, so it is atomic.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sut.errors import SutError

DEPTH_KEY = "ws:depth"

# KEYS: stream, index, depth. ARGV: id, json, queue_max. → new entry id, "" if the id is queued, or "full".
_APPEND = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return '' end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 'full' end
local entry = redis.call('XADD', KEYS[1], '*', 'm', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], entry)
redis.call('INCR', KEYS[3])
return entry
"""
# KEYS: stream, index, depth. ARGV: id. → 1 removed, 0 unknown id.
_REMOVE = """
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then return 0 end
redis.call('XDEL', KEYS[1], entry)
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DECR', KEYS[3])
return 1
"""


class QueueFull(SutError):
    status = 503
    title = "WebSocket queue full"
    slug = "ws-queue-full"


@dataclass(frozen=True)
class Message:
    id: str
    payload: Any
    sent_at: float

    def frame(self) -> str:
        return json.dumps(
            {"type": "message", "id": self.id, "payload": self.payload, "sent_at": self.sent_at}
        )


class RedisSource(Protocol):
    def get_connection(
        self, name: Literal["postgres", "redis", "warehouse"]
    ) -> AbstractAsyncContextManager[Any]: ...


class MessageStore(Protocol):
    async def append(self, client: str, message: Message) -> bool:
        """Queue `message` (True) or find its id already queued (False); QueueFull when full."""
        ...

    async def read_after(
        self, client: str, cursor: str | None, count: int
    ) -> list[tuple[str, Message]]:
        """Up to `count` queued messages after `cursor` (None: from the start), in order."""
        ...

    async def remove(self, client: str, message_id: str) -> bool: ...

    async def depth(self) -> int: ...


class RedisMessageStore:
    def __init__(self, connections: RedisSource, queue_max: int) -> None:
        self.connections = connections
        self.queue_max = queue_max

    @staticmethod
    def _keys(client: str) -> list[str]:
        return [f"ws:s:{client}", f"ws:i:{client}", DEPTH_KEY]

    async def append(self, client: str, message: Message) -> bool:
        data = json.dumps(
            {"id": message.id, "payload": message.payload, "sent_at": message.sent_at}
        )
        async with self.connections.get_connection("redis") as redis:
            entry = await redis.eval(
                _APPEND, 3, *self._keys(client), message.id, data, self.queue_max
            )
        entry = entry.decode() if isinstance(entry, bytes) else str(entry)
        if entry == "full":
            raise QueueFull(f"queue of client {client!r} holds {self.queue_max} messages")
        return entry != ""

    async def read_after(
        self, client: str, cursor: str | None, count: int
    ) -> list[tuple[str, Message]]:
        start = "-" if cursor is None else f"({cursor}"
        async with self.connections.get_connection("redis") as redis:
            entries = await redis.xrange(f"ws:s:{client}", min=start, max="+", count=count)
        out = []
        for entry_id, fields in entries:
            raw = json.loads(fields[b"m"] if b"m" in fields else fields["m"])
            key = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            out.append((key, Message(raw["id"], raw["payload"], float(raw["sent_at"]))))
        return out

    async def remove(self, client: str, message_id: str) -> bool:
        async with self.connections.get_connection("redis") as redis:
            removed = await redis.eval(_REMOVE, 3, *self._keys(client), message_id)
        return bool(removed)

    async def depth(self) -> int:
        async with self.connections.get_connection("redis") as redis:
            value = await redis.get(DEPTH_KEY)
        return int(value or 0)


class MemoryMessageStore:
    """The deliberately weakened mode: queues live in this process and die with it."""

    def __init__(self, queue_max: int) -> None:
        self.queue_max = queue_max
        self._queues: dict[str, OrderedDict[str, tuple[int, Message]]] = {}
        self._seq = itertools.count(1)

    async def append(self, client: str, message: Message) -> bool:
        queue = self._queues.setdefault(client, OrderedDict())
        if message.id in queue:
            return False
        if len(queue) >= self.queue_max:
            raise QueueFull(f"queue of client {client!r} holds {self.queue_max} messages")
        queue[message.id] = (next(self._seq), message)
        return True

    async def read_after(
        self, client: str, cursor: str | None, count: int
    ) -> list[tuple[str, Message]]:
        after = int(cursor) if cursor is not None else 0
        queue = self._queues.get(client, OrderedDict())
        found = [(str(seq), m) for seq, m in queue.values() if seq > after]
        return found[:count]

    async def remove(self, client: str, message_id: str) -> bool:
        queue = self._queues.get(client)
        return queue is not None and queue.pop(message_id, None) is not None

    async def depth(self) -> int:
        return sum(len(q) for q in self._queues.values())


def new_message(message_id: str, payload: Any) -> Message:
    return Message(message_id, payload, time.time())
