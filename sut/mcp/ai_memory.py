"""The ai_memory MCP server: remember / recall / forget, stored in Postgres, read-cached in Redis.

Tools never raise for a dependency failure: they return `{"error": {status, title, detail,
dependency}}` so the gateway can tell "the replica answered, its database did not" (503/504 to the
caller, no breaker trip) from "the replica is unreachable" (a transport failure, which trips it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette

from sut.config import SutSettings
from sut.mcp.base import CheckResult, ConnectionSource, StandardizedMCPServer, timed_check

log = logging.getLogger(__name__)

TABLE = "ai_memories"
CACHE_PREFIX = "ai_memory:"
QUERY_LIMIT = 20  # a bounded answer for free-text recall

SCHEMA = f"""
create table if not exists {TABLE} (
    key text primary key,
    content text not null,
    tags text[] not null default '{{}}',
    updated_at timestamptz not null default now()
)
"""


def dependency_error(dependency: str, error: BaseException) -> dict[str, Any]:
    """A problem body for a failed dependency call: 504 for timeouts, 503 otherwise."""
    status = getattr(error, "status", None)
    if not isinstance(status, int):
        timed_out = isinstance(error, TimeoutError) or "Timeout" in type(error).__name__
        status = 504 if timed_out else 503
    title = "dependency timeout" if status == 504 else "dependency unavailable"
    return {
        "error": {
            "status": status,
            "title": title,
            "detail": f"{dependency}: {type(error).__name__}: {error}",
            "dependency": dependency,
        }
    }


def _row(record: Any) -> dict[str, Any]:
    return {
        "key": record["key"],
        "content": record["content"],
        "tags": list(record["tags"]),
        "updated_at": record["updated_at"].isoformat(),
    }


class AiMemoryServer(StandardizedMCPServer):
    def __init__(
        self,
        settings: SutSettings,
        name: str = "ai_memory",
        connections: ConnectionSource | None = None,
    ) -> None:
        super().__init__(name, settings, connections)
        self._register_tools()

    async def server_init(self) -> None:
        try:
            async with self.connections.get_connection("postgres") as conn:
                await conn.execute(SCHEMA)
        except Exception as error:  # start anyway: the server health check creates it later
            log.warning("ai_memory schema deferred, Postgres not answering: %r", error)

    async def server_checks(self) -> list[CheckResult]:
        async def table_present() -> str:
            async with self.connections.get_connection("postgres") as conn:
                if await conn.fetchval("select to_regclass($1) is not null", TABLE):
                    return f"table {TABLE} present"
                # A crashed Postgres (synchronous_commit=off) can come back without recent DDL.
                await conn.execute(SCHEMA)
            return f"table {TABLE} was missing: recreated"

        return [
            await timed_check(
                "server:ai_memory", table_present, self.settings.health.check_timeout_s
            )
        ]

    # --- cache (best effort: Redis down or slow means slower, never wrong) -------------------
    @contextlib.asynccontextmanager
    async def _redis(self) -> AsyncIterator[Any]:
        """A Redis connection whose use must end within the cache deadline (a slow cache must
        not hold up a memory call that Postgres can answer); 0 = no deadline."""
        ms = self.settings.cache.deadline_ms
        async with (
            asyncio.timeout(ms / 1000 if ms > 0 else None),
            self.connections.get_connection("redis") as redis,
        ):
            yield redis

    async def _cache_get(self, key: str) -> dict[str, Any] | None:
        if not self.settings.cache.enabled:
            return None
        try:
            async with self._redis() as redis:
                raw = await redis.get(CACHE_PREFIX + key)
        except Exception as error:  # the cache is optional: fall through to Postgres
            log.debug("ai_memory cache read failed: %r", error)
            return None
        return json.loads(raw) if raw else None

    async def _cache_put(self, memory: dict[str, Any]) -> None:
        if not self.settings.cache.enabled:
            return
        ttl = max(1, int(self.settings.cache.dashboard_ttl_s))
        try:
            async with self._redis() as redis:
                await redis.set(CACHE_PREFIX + memory["key"], json.dumps(memory), ex=ttl)
        except Exception as error:  # the cache is optional
            log.debug("ai_memory cache write failed: %r", error)

    async def _cache_drop(self, key: str) -> None:
        if not self.settings.cache.enabled:
            return
        try:
            async with self._redis() as redis:
                await redis.delete(CACHE_PREFIX + key)
        except Exception as error:  # a stale entry expires with its TTL
            log.debug("ai_memory cache delete failed: %r", error)

    # --- tools -----------------------------------------------------------------------------
    async def remember(
        self, key: str, content: str, tags: list[str] | None = None
    ) -> dict[str, Any]:
        try:
            async with self.connections.get_connection("postgres") as conn:
                record = await conn.fetchrow(
                    f"insert into {TABLE} (key, content, tags) values ($1, $2, $3) "
                    "on conflict (key) do update set content = excluded.content, "
                    "tags = excluded.tags, updated_at = now() "
                    "returning key, content, tags, updated_at",
                    key,
                    content,
                    tags or [],
                )
        except Exception as error:
            return dependency_error("postgres", error)
        memory = _row(record)
        await self._cache_drop(key)  # invalidate; the next recall refills from Postgres
        return {"stored": True, "memory": memory}

    async def recall(self, key: str | None = None, query: str | None = None) -> dict[str, Any]:
        if (key is None) == (query is None):
            return {
                "error": {
                    "status": 422,
                    "title": "bad arguments",
                    "detail": "give exactly one of key or query",
                }
            }
        try:
            if key is not None:
                cached = await self._cache_get(key)
                if cached is not None:
                    return {"found": True, "memory": cached, "cached": True}
                async with self.connections.get_connection("postgres") as conn:
                    record = await conn.fetchrow(
                        f"select key, content, tags, updated_at from {TABLE} where key = $1", key
                    )
                if record is None:
                    return {"found": False, "key": key}
                memory = _row(record)
                await self._cache_put(memory)
                return {"found": True, "memory": memory, "cached": False}
            async with self.connections.get_connection("postgres") as conn:
                records = await conn.fetch(
                    f"select key, content, tags, updated_at from {TABLE} "
                    "where content ilike '%' || $1 || '%' or $1 = any(tags) "
                    "order by updated_at desc limit $2",
                    query,
                    QUERY_LIMIT,
                )
        except Exception as error:
            return dependency_error("postgres", error)
        return {"memories": [_row(r) for r in records]}

    async def forget(self, key: str) -> dict[str, Any]:
        try:
            async with self.connections.get_connection("postgres") as conn:
                deleted = await conn.fetchval(
                    f"with d as (delete from {TABLE} where key = $1 returning 1) select count(*) from d",
                    key,
                )
        except Exception as error:
            return dependency_error("postgres", error)
        await self._cache_drop(key)
        return {"deleted": bool(deleted), "key": key}

    def _register_tools(self) -> None:
        self.mcp.tool(description="Store (or replace) a memory under a key, with optional tags.")(
            self.remember
        )
        self.mcp.tool(description="Read one memory by key, or search memories by a query.")(
            self.recall
        )
        self.mcp.tool(description="Delete the memory stored under a key.")(self.forget)


def create_replica_app(
    settings: SutSettings, replica_name: str, connections: ConnectionSource | None = None
) -> Starlette:
    """ASGI app of one ai_memory replica: MCP at `/mcp`, `/health`, `/metrics`."""
    replica = settings.mcp.replica(replica_name)  # an unknown name fails here, naming the known
    server = AiMemoryServer(settings, name=replica_name, connections=connections)
    return server.asgi_app(host=replica.host)
