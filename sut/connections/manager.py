"""UnifiedConnectionManager: the one owner of every dependency connection of the backend.

    async with manager.get_connection("postgres") as conn: ...

Each dependency has its pool (acquire timeout), its circuit breaker and its health check;
errors come out as the named SUT errors (sut.errors). `close()` releases everything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sut.config import SutSettings
from sut.connections.breaker import Breaker
from sut.connections.postgres import PostgresPool
from sut.connections.redis_pool import RedisPool
from sut.connections.warehouse import WarehousePool
from sut.errors import DependencyError, DependencyTimeout
from sut.metrics import SutMetrics

DependencyName = Literal["postgres", "redis", "warehouse"]
DEPENDENCIES: tuple[DependencyName, ...] = ("postgres", "redis", "warehouse")


class Pool(Protocol):
    name: str

    async def start(self) -> None: ...
    def acquire(self) -> Any: ...
    async def check(self) -> None: ...
    def stats(self) -> tuple[int, int, int]: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str
    response_time_ms: float


class UnifiedConnectionManager:
    def __init__(self, settings: SutSettings, metrics: SutMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or SutMetrics()
        breakers = {
            "postgres": settings.postgres.breaker,
            "redis": settings.redis.breaker,
            "warehouse": settings.warehouse.breaker,
        }
        self.breakers = {
            name: Breaker(name, config, self._breaker_changed) for name, config in breakers.items()
        }
        admit = {name: breaker.admit for name, breaker in self.breakers.items()}
        self.pools: dict[str, Pool] = {
            "postgres": PostgresPool(settings.postgres, self._count_query, admit["postgres"]),
            "redis": RedisPool(settings.redis, admit["redis"]),
            "warehouse": WarehousePool(settings.warehouse, admit["warehouse"]),
        }
        for name, pool in self.pools.items():
            self.metrics.watch_pool(name, pool.stats)
            self.metrics.breaker_state.labels(name).set_function(self.breakers[name].state_now)

    def _count_query(self, kind: str) -> None:
        self.metrics.db_queries.labels("postgres", kind).inc()

    def _breaker_changed(self, name: str, state: int) -> None:
        self.metrics.dependency_errors.labels(name, f"breaker_state_{state}").inc()

    async def start(self) -> None:
        """Open pools eagerly where possible; a dependency that is down does not stop start-up."""
        await asyncio.gather(*(pool.start() for pool in self.pools.values()))

    @asynccontextmanager
    async def get_connection(self, name: DependencyName) -> AsyncIterator[Any]:
        pool = self.pools[name]
        try:
            async with self.breakers[name].guard():
                # a call on the dependency: what the breaker let through (`sut_dependency_calls`)
                self.metrics.dependency_calls.labels(name).inc()
                async with pool.acquire() as connection:
                    yield connection
        except DependencyError as error:
            self.metrics.dependency_errors.labels(name, type(error).__name__).inc()
            raise

    async def check(self, name: DependencyName, timeout_s: float) -> CheckResult:
        """A real round trip (SELECT 1 / PING), bypassing the breaker so it sees the truth."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                await self.pools[name].check()
        except TimeoutError:
            error: Exception = DependencyTimeout(f"{name} check exceeded {timeout_s}s")
        except DependencyError as failure:
            error = failure
        else:
            return CheckResult(True, "ok", (time.perf_counter() - start) * 1000)
        return CheckResult(
            False,
            error.args[0] if error.args else repr(error),
            (time.perf_counter() - start) * 1000,
        )

    async def check_all(self, timeout_s: float) -> dict[str, CheckResult]:
        results = await asyncio.gather(*(self.check(name, timeout_s) for name in DEPENDENCIES))
        return dict(zip(DEPENDENCIES, results, strict=True))

    def pool_stats(self) -> dict[str, dict[str, int]]:
        out = {}
        for name, pool in self.pools.items():
            in_use, idle, waiting = pool.stats()
            out[name] = {"in_use": in_use, "idle": idle, "waiting": waiting, "max": self._max(name)}
        return out

    def _max(self, name: str) -> int:
        return {
            "postgres": self.settings.postgres.pool.max_size,
            "redis": self.settings.redis.pool.max_size,
            "warehouse": self.settings.warehouse.pool.max_size,
        }[name]

    async def close(self) -> None:
        await asyncio.gather(
            *(pool.close() for pool in self.pools.values()), return_exceptions=True
        )
