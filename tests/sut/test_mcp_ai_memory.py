"""ai_memory over real MCP (SDK client, streamable HTTP) against real Postgres and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from mcp import Client
from sut_mcp_ws_support import poll, start_role

from chaosgate.processes import ManagedProcess
from fixtures.local.services import LocalService
from sut.config import ReplicaSettings, load_sut_settings
from sut.mcp.ai_memory import CACHE_PREFIX, TABLE

pytestmark = pytest.mark.integration


@pytest.fixture
def replica(
    sut_config_factory: Callable[..., Path], sut_workdir: Path
) -> Iterator[tuple[ReplicaSettings, ManagedProcess]]:
    config = sut_config_factory()
    settings = load_sut_settings(config)
    conf = settings.mcp.replicas[0]
    base = f"http://{conf.host}:{conf.listen_port}"
    process = start_role(
        config, "ai_memory", sut_workdir, replica=conf.name, ready_url=f"{base}/health"
    )
    try:
        yield conf, process
    finally:
        process.stop(10)


async def test_remember_recall_forget_round_trip(
    replica: tuple[ReplicaSettings, ManagedProcess], pg: LocalService, redis_server: LocalService
) -> None:
    conf, _ = replica
    db = await asyncpg.connect(host=pg.host, port=pg.port, user="postgres", database="chaosgate")
    cache = aioredis.Redis(host=redis_server.host, port=redis_server.port)
    try:
        async with Client(conf.url, read_timeout_seconds=5) as client:
            stored = await client.call_tool(
                "remember", {"key": "k-1", "content": "the cat sat", "tags": ["pets"]}
            )
            assert not stored.is_error
            assert stored.structured_content is not None
            assert stored.structured_content["stored"] is True
            row = await db.fetchrow(f"select content, tags from {TABLE} where key = 'k-1'")
            assert row is not None
            assert (row["content"], list(row["tags"])) == ("the cat sat", ["pets"])

            first = (await client.call_tool("recall", {"key": "k-1"})).structured_content
            second = (await client.call_tool("recall", {"key": "k-1"})).structured_content
            assert first is not None
            assert second is not None
            assert (first["found"], first["cached"]) == (True, False)  # filled from Postgres
            assert (second["found"], second["cached"]) == (True, True)  # served by Redis
            assert second["memory"]["content"] == "the cat sat"
            assert await cache.exists(CACHE_PREFIX + "k-1") == 1

            search = (await client.call_tool("recall", {"query": "pets"})).structured_content
            assert search is not None
            assert [m["key"] for m in search["memories"]] == ["k-1"]

            gone = (await client.call_tool("forget", {"key": "k-1"})).structured_content
            assert gone == {"deleted": True, "key": "k-1"}
            assert await db.fetchval(f"select count(*) from {TABLE} where key = 'k-1'") == 0
            assert await cache.exists(CACHE_PREFIX + "k-1") == 0
            after = (await client.call_tool("recall", {"key": "k-1"})).structured_content
            assert after == {"found": False, "key": "k-1"}

            bad = await client.call_tool("remember", {"key": "k-2"})  # content missing
            assert bad.is_error
    finally:
        await db.close()
        await cache.aclose()


def test_health_has_three_parts_and_follows_postgres(
    replica: tuple[ReplicaSettings, ManagedProcess], pg: LocalService
) -> None:
    conf, _ = replica
    base = f"http://{conf.host}:{conf.listen_port}"
    healthy = httpx.get(f"{base}/health", timeout=5)
    assert healthy.status_code == 200
    checks = healthy.json()["checks"]
    assert {"connection:postgres", "connection:redis", "resources", "server:ai_memory"} <= set(
        checks
    )
    assert all(c["ok"] for c in checks.values())
    assert "mcp_server_healthy 1.0" in httpx.get(f"{base}/metrics", timeout=5).text

    pg.kill()  # SIGTERM is Postgres' "smart" shutdown, which waits for our pooled clients
    poll(
        lambda: httpx.get(f"{base}/health", timeout=5).status_code == 503,
        what="replica health 503 with Postgres down",
        timeout_s=10,
    )
    down = httpx.get(f"{base}/health", timeout=5).json()
    assert down["status"] == "unhealthy"
    assert down["checks"]["connection:postgres"]["ok"] is False

    pg.restart()
    poll(
        lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200,
        what="replica health back to 200 after Postgres restart",
        timeout_s=15,
    )


async def _remember_once(url: str) -> dict[str, Any] | None:
    async with Client(url, read_timeout_seconds=5) as client:
        result = await client.call_tool("remember", {"key": "late", "content": "x"})
    return dict(result.structured_content) if result.structured_content is not None else None


def test_replica_starts_without_postgres_and_heals(
    sut_config_factory: Callable[..., Path], sut_workdir: Path, pg: LocalService
) -> None:
    config = sut_config_factory()
    conf = load_sut_settings(config).mcp.replicas[0]
    base = f"http://{conf.host}:{conf.listen_port}"
    pg.kill()
    process = start_role(
        config, "ai_memory", sut_workdir, replica=conf.name, ready_url=f"{base}/health"
    )
    try:
        assert httpx.get(f"{base}/health", timeout=5).status_code == 503
        pg.restart()
        poll(
            lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200,
            what="replica healthy once Postgres answers (schema created by the health check)",
            timeout_s=20,
        )
        stored = asyncio.run(_remember_once(conf.url))
        assert stored is not None
        assert stored["stored"] is True
    finally:
        process.stop(10)
