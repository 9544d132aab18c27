"""Redis through one redis.asyncio pool, bounded by a semaphore so acquisition has a timeout."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import redis.asyncio as aioredis
import redis.exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sut.config import RedisSettings
from sut.connections.slots import Slots, translated
from sut.errors import DependencyError, DependencyTimeout, DependencyUnavailable

NAME = "redis"


def classify(error: BaseException) -> DependencyError | None:
    if isinstance(error, DependencyError):
        return error
    if isinstance(error, rexc.TimeoutError | TimeoutError):
        return DependencyTimeout(f"redis did not answer in time ({error!r})", dependency=NAME)
    if isinstance(error, rexc.ConnectionError | OSError):
        return DependencyUnavailable(f"redis unavailable ({error!r})", dependency=NAME)
    return None


class RedisPool:
    name = NAME

    def __init__(self, settings: RedisSettings, admit: Callable[[], None] | None = None) -> None:
        self.settings = settings
        # One retry, on a connection error only: a pooled connection a network blip cut fails
        # at once, and a fresh one succeeds (a refused one fails again within ~1 ms). Timeouts
        # are never retried: redis-py's default retries make a blackholed Redis take ~15 s to
        # fail; we want failure within socket_timeout_s and leave retrying to the caller.
        retry = Retry(NoBackoff(), 1, supported_errors=(rexc.ConnectionError,))
        self._pool = aioredis.ConnectionPool(
            host=settings.host,
            port=settings.port,
            max_connections=settings.pool.max_size,
            socket_timeout=settings.socket_timeout_s,
            socket_connect_timeout=settings.socket_timeout_s,
            retry=retry,
        )
        self.client = aioredis.Redis(connection_pool=self._pool, retry=retry)
        self._slots = Slots.for_pool(NAME, settings.pool, admit)

    async def start(self) -> None:
        """Nothing to open eagerly: redis-py connects on first use."""

    @contextlib.asynccontextmanager
    async def acquire(self, *, admit: bool = True) -> AsyncIterator[aioredis.Redis]:
        async with self._slots.hold(admit=admit):
            with translated(classify):
                yield self.client

    async def check(self) -> None:
        async with self.acquire(admit=False) as client:  # a check sees the truth, breaker or not
            await client.ping()

    def stats(self) -> tuple[int, int, int]:
        idle = len(getattr(self._pool, "_available_connections", ()))
        return self._slots.in_use, idle, self._slots.waiting

    async def close(self) -> None:
        await self.client.aclose()
        await self._pool.disconnect()
