"""UnifiedConnectionManager against real Postgres, Redis and fakesnow."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from fixtures.local.services import LocalService
from sut.config import SutSettings, load_sut_settings
from sut.connections import UnifiedConnectionManager
from sut.connections.breaker import CLOSED, HALF_OPEN, OPEN
from sut.errors import BreakerOpen, DependencyTimeout, DependencyUnavailable, PoolExhausted

pytestmark = pytest.mark.integration

ConfigFactory = Callable[..., Path]
Eventually = Callable[[Callable[[], bool], float], Awaitable[float]]
SessionCount = Callable[[], Awaitable[int]]


@pytest.fixture
async def manager(sut_settings: SutSettings) -> AsyncIterator[UnifiedConnectionManager]:
    manager = UnifiedConnectionManager(sut_settings)
    await manager.start()
    try:
        yield manager
    finally:
        await manager.close()


async def test_every_dependency_answers_through_get_connection(
    manager: UnifiedConnectionManager,
) -> None:
    async with manager.get_connection("postgres") as pg:
        assert await pg.fetchval("SELECT 41 + 1") == 42
    async with manager.get_connection("redis") as redis:
        await redis.set("k", "v")
        assert await redis.get("k") == b"v"
    async with manager.get_connection("warehouse") as wh:
        assert await wh.query("SELECT 1 + 1") == [(2,)]
    checks = await manager.check_all(timeout_s=2)
    assert all(c.ok for c in checks.values()), checks


async def test_pool_exhaustion_fails_within_the_acquire_timeout(
    manager: UnifiedConnectionManager, eventually: Eventually
) -> None:
    limit = manager.settings.postgres.pool.max_size
    timeout = manager.settings.postgres.pool.acquire_timeout_s
    release = asyncio.Event()
    held = 0

    async def hold() -> None:
        nonlocal held
        async with manager.get_connection("postgres"):
            held += 1
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(limit)]
    try:
        await eventually(lambda: held == limit, 5)
        assert manager.pool_stats()["postgres"]["in_use"] == limit
        start = time.monotonic()
        with pytest.raises(PoolExhausted):
            async with manager.get_connection("postgres"):
                pass
        waited = time.monotonic() - start
        assert timeout * 0.9 <= waited <= timeout + 1.0
    finally:
        release.set()
        await asyncio.gather(*holders)
    assert manager.breakers["postgres"].state == CLOSED  # load is not a dependency failure


async def test_postgres_breaker_opens_after_threshold_and_half_opens_after_recovery(
    manager: UnifiedConnectionManager, pg: LocalService, eventually: Eventually
) -> None:
    breaker = manager.breakers["postgres"]
    threshold = manager.settings.postgres.breaker.failure_threshold
    recovery = manager.settings.postgres.breaker.recovery_timeout_s
    pg.kill()  # SIGTERM is Postgres' "smart" shutdown, which waits for our pooled clients
    for _ in range(threshold):
        with pytest.raises(DependencyUnavailable):
            async with manager.get_connection("postgres") as conn:
                await conn.fetchval("SELECT 1")
    assert breaker.state == OPEN
    start = time.monotonic()
    with pytest.raises(BreakerOpen):  # fails fast, no connection attempt
        async with manager.get_connection("postgres"):
            pass
    assert time.monotonic() - start < 0.1
    await eventually(lambda: breaker.effective_state == HALF_OPEN, recovery + 2)
    assert time.monotonic() - start >= recovery * 0.9
    pg.restart()
    async with manager.get_connection("postgres") as conn:  # the half-open trial succeeds
        assert await conn.fetchval("SELECT 1") == 1
    assert breaker.state == CLOSED


async def test_disabled_breaker_never_opens(
    sut_config_factory: ConfigFactory, pg: LocalService
) -> None:
    settings = load_sut_settings(sut_config_factory(**{"postgres.breaker.enabled": False}))
    manager = UnifiedConnectionManager(settings)
    await manager.start()
    try:
        pg.kill()  # SIGTERM is Postgres' "smart" shutdown, which waits for our pooled clients
        for _ in range(settings.postgres.breaker.failure_threshold + 2):
            with pytest.raises(DependencyUnavailable):
                async with manager.get_connection("postgres") as conn:
                    await conn.fetchval("SELECT 1")
    finally:
        await manager.close()


async def test_close_leaves_no_connection_thread_or_task(
    sut_settings: SutSettings, other_postgres_sessions: SessionCount
) -> None:
    threads_before = set(threading.enumerate())
    tasks_before = asyncio.all_tasks()
    manager = UnifiedConnectionManager(sut_settings)
    await manager.start()
    for name in ("postgres", "redis", "warehouse"):
        assert (await manager.check(name, timeout_s=3)).ok
    await manager.close()
    assert set(threading.enumerate()) - threads_before == set()
    assert asyncio.all_tasks() - tasks_before == set()
    assert await other_postgres_sessions() == 0


async def test_blackholed_redis_fails_within_its_socket_timeout(
    manager: UnifiedConnectionManager, redis_server: LocalService
) -> None:
    async with manager.get_connection("redis") as redis:
        assert await redis.ping()
    redis_server.pause()  # SIGSTOP: the kernel still accepts, nothing ever answers
    try:
        start = time.monotonic()
        with pytest.raises(DependencyTimeout):
            async with manager.get_connection("redis") as redis:
                await redis.get("k")
        elapsed = time.monotonic() - start
    finally:
        redis_server.resume()
    timeout = manager.settings.redis.socket_timeout_s
    assert (
        timeout * 0.9 <= elapsed <= timeout + 1.0
    )  # no hidden retries (redis-py retries by default)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_blackholed_warehouse_fails_within_its_network_timeout(
    manager: UnifiedConnectionManager, warehouse: LocalService
) -> None:
    warehouse.pause()
    try:
        start = time.monotonic()
        with pytest.raises((DependencyTimeout, DependencyUnavailable)):
            async with manager.get_connection("warehouse") as conn:
                await conn.query("SELECT 1")
        elapsed = time.monotonic() - start
    finally:
        warehouse.resume()
    assert elapsed <= manager.settings.warehouse.network_timeout_s + 1.5
