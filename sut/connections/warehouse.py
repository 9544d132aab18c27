"""The warehouse (fakesnow in tests) through a bounded pool of sync Snowflake connector connections.

The connector is blocking, so every call runs in this pool's own thread executor (closed with the
pool, so no thread outlives it). A connection serves one call at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import snowflake.connector
from snowflake.connector import SnowflakeConnection
from snowflake.connector import errors as sferrors

from sut.config import WarehouseSettings
from sut.connections.slots import Slots, translated
from sut.errors import DependencyError, DependencyTimeout, DependencyUnavailable

NAME = "warehouse"
T = TypeVar("T")

# The connector probes cloud metadata addresses at login unless this is set; only an env var
# controls it. setdefault so an operator's explicit value wins.
os.environ.setdefault("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")


def classify(error: BaseException) -> DependencyError | None:
    if isinstance(error, DependencyError):
        return error
    if isinstance(error, TimeoutError):
        return DependencyTimeout(f"warehouse did not answer in time ({error!r})", dependency=NAME)
    if isinstance(error, sferrors.OperationalError | sferrors.InterfaceError | OSError):
        return DependencyUnavailable(f"warehouse unavailable ({error!r})", dependency=NAME)
    return None


class WarehouseConnection:
    """One checked-out connection; `query` runs in the pool's executor with a deadline."""

    def __init__(self, pool: WarehousePool, raw: SnowflakeConnection) -> None:
        self._pool = pool
        self.raw = raw
        self.broken = False

    async def query(self, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            with self.raw.cursor() as cursor:
                cursor.execute(sql, params)
                return [tuple(row) for row in cursor.fetchall()]

        try:
            return await self._pool.run(run)
        except BaseException:
            self.broken = True  # never reuse a connection whose call failed or is still running
            raise


class WarehousePool:
    name = NAME

    def __init__(
        self, settings: WarehouseSettings, admit: Callable[[], None] | None = None
    ) -> None:
        self.settings = settings
        self._executor = ThreadPoolExecutor(
            max_workers=settings.pool.max_size + 1, thread_name_prefix="sut-warehouse"
        )
        self._idle: list[SnowflakeConnection] = []
        self._slots = Slots.for_pool(NAME, settings.pool, admit)
        self._closed = False

    async def run(self, call: Callable[[], T]) -> T:
        """Run a blocking connector call in our executor; the deadline backs up its own timeouts."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.settings.network_timeout_s + 1):
            return await loop.run_in_executor(self._executor, call)

    def _connect(self) -> SnowflakeConnection:
        s = self.settings
        timeout = max(1, round(s.network_timeout_s))
        return snowflake.connector.connect(
            host=s.host,
            port=s.port,
            protocol=s.protocol,
            account=s.account,
            user=s.user,
            password=s.password,
            database=s.database,
            schema=s.schema_,
            login_timeout=timeout,
            network_timeout=timeout,
            socket_timeout=timeout,
            client_session_keep_alive=False,
        )

    async def start(self) -> None:
        for _ in range(self.settings.pool.min_size):
            try:
                self._idle.append(await self.run(self._connect))
            except Exception:  # the warehouse may be down at start; readiness reports it
                return

    @contextlib.asynccontextmanager
    async def acquire(self, *, admit: bool = True) -> AsyncIterator[WarehouseConnection]:
        if self._closed:
            raise DependencyUnavailable("warehouse pool is closed", dependency=NAME)
        if self.settings.slow_call_ms:  # test-only weakening, see WarehouseSettings
            await asyncio.sleep(self.settings.slow_call_ms / 1000)
        async with self._slots.hold(admit=admit):
            connection: WarehouseConnection | None = None
            try:
                with translated(classify):
                    raw = self._idle.pop() if self._idle else await self.run(self._connect)
                    connection = WarehouseConnection(self, raw)
                    yield connection
            finally:
                if connection is not None:
                    if connection.broken or self._closed:
                        self._discard(connection.raw)
                    else:
                        self._idle.append(connection.raw)

    def _discard(self, raw: SnowflakeConnection) -> None:
        if not self._closed:
            self._executor.submit(_quiet_close, raw)

    async def check(self) -> None:
        async with self.acquire(admit=False) as connection:  # sees the truth, breaker or not
            await connection.query("SELECT 1")

    def stats(self) -> tuple[int, int, int]:
        return self._slots.in_use, len(self._idle), self._slots.waiting

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        loop = asyncio.get_running_loop()
        closing = [loop.run_in_executor(self._executor, _quiet_close, raw) for raw in idle]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.network_timeout_s):
                await asyncio.gather(*closing)
        self._executor.shutdown(wait=False, cancel_futures=True)
        # Poll (bounded) until the executor's threads have ended, without blocking the loop.
        deadline = time.monotonic() + self.settings.network_timeout_s + 1
        threads = list(getattr(self._executor, "_threads", ()))
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:  # noqa: ASYNC110 (threads cannot set an asyncio.Event)
            await asyncio.sleep(0.01)


def _quiet_close(raw: SnowflakeConnection) -> None:
    with contextlib.suppress(Exception):  # closing a dead connection may fail; nothing to do then
        raw.close()
