"""Shared fixtures for SUT tests: real Postgres, Redis and fakesnow as local processes on free ports.

Names are stable (other SUT test modules use them): `sut_workdir`, `pg`, `redis_server`,
`warehouse`, `sut_config_factory`, `sut_settings`. Each dependency fixture is function-scoped
(tests stop and restart them) and is stopped by PID at teardown; the work dir is removed.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from chaosgate.processes import free_port
from fixtures.local.pg_template import seed_data_dir
from fixtures.local.services import LocalService, start_fakesnow, start_postgres, start_redis
from sut.config import SutSettings, load_sut_settings

ConfigFactory = Callable[..., Path]
Eventually = Callable[[Callable[[], bool], float], Awaitable[float]]


SessionCount = Callable[[], Awaitable[int]]


@pytest.fixture
def other_postgres_sessions(pg: LocalService) -> SessionCount:
    """How many sessions besides the asking one are open on the SUT's database (leak checks)."""

    async def count() -> int:
        probe = await asyncpg.connect(
            host=pg.host, port=pg.port, user="postgres", database="chaosgate"
        )
        try:
            others: int = await probe.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = 'chaosgate' AND pid <> pg_backend_pid()"
            )
        finally:
            await probe.close()
        return others

    return count


@pytest.fixture
def sut_workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sut-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _serve(service: LocalService) -> Iterator[LocalService]:
    try:
        yield service
    finally:
        service.process.stop(10)


@pytest.fixture
def pg(sut_workdir: Path) -> Iterator[LocalService]:
    # a copy of the machine's template cluster, as the local backend does: initdb took 1-3 s of
    # each of the ~48 tests that start a Postgres
    (sut_workdir / "pg").mkdir()
    seed_data_dir(sut_workdir / "pg", timeout_s=30)
    yield from _serve(start_postgres(sut_workdir / "pg", free_port()))


@pytest.fixture
def redis_server(sut_workdir: Path) -> Iterator[LocalService]:
    (sut_workdir / "redis").mkdir()
    yield from _serve(start_redis(sut_workdir / "redis", free_port()))


@pytest.fixture
def warehouse(sut_workdir: Path) -> Iterator[LocalService]:
    (sut_workdir / "snow").mkdir()
    service = start_fakesnow(sut_workdir / "snow", free_port())
    try:
        yield service
    finally:
        _cancel_query_timers()  # before fakesnow stops: see below
        service.process.stop(10)


def _cancel_query_timers() -> None:
    """The Snowflake connector starts a timer per query that posts an abort request once the
    query outlives `network_timeout`. A test that stalled the warehouse leaves such timers
    behind; fired after fakesnow stopped, they raise in their thread, which pytest reports as
    an error of whatever test runs then. The test is over: cancel them."""
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer) and type(thread).__name__ == (
            "_TrackedQueryCancellationTimer"
        ):
            thread.cancel()
            thread.join(1.0)


async def _eventually(condition: Callable[[], bool], timeout_s: float) -> float:
    """Poll `condition` until true; return the seconds it took, or fail the test at the deadline."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture
def eventually() -> Eventually:
    """`await eventually(lambda: cond, timeout_s)` polls with a deadline (no sleeps as sync)."""
    return _eventually


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def base_config(pg: LocalService, redis: LocalService, warehouse: LocalService) -> dict[str, Any]:
    """A SUT config pointing at the given services, every SUT listener on a free port.

    Test defaults are tighter than production's so failure paths finish quickly.
    """
    gateway_port = free_port()
    replicas = []
    for i in (1, 2):
        port = free_port()
        replicas.append(
            {
                "name": f"ai_memory-{i}",
                "host": "127.0.0.1",
                "listen_port": port,
                "url": f"http://127.0.0.1:{port}/mcp",
            }
        )
    breaker = {"enabled": True, "failure_threshold": 3, "recovery_timeout_s": 2}
    return {
        "service": {"host": "127.0.0.1", "port": free_port(), "shutdown_timeout_s": 5},
        "postgres": {
            "host": pg.host,
            "port": pg.port,
            "pool": {"min_size": 1, "max_size": 5, "acquire_timeout_s": 1},
            "statement_timeout_s": 2,
            "connect_timeout_s": 1,
            "breaker": dict(breaker),
        },
        "redis": {
            "host": redis.host,
            "port": redis.port,
            "pool": {"max_size": 10, "acquire_timeout_s": 1},
            "socket_timeout_s": 0.5,
            "breaker": dict(breaker),
        },
        "warehouse": {
            "host": warehouse.host,
            "port": warehouse.port,
            "pool": {"min_size": 1, "max_size": 2, "acquire_timeout_s": 2},
            "network_timeout_s": 3,
            "breaker": dict(breaker),
        },
        "cache": {"enabled": True, "dashboard_ttl_s": 30},
        "dashboard": {},  # every section written: a missing one reads as a truncated file
        "health": {"interval_s": 0.5, "check_timeout_s": 1},
        "mcp": {
            "gateway_url": f"http://127.0.0.1:{gateway_port}",
            "call_timeout_s": 2,
            "gateway": {"host": "127.0.0.1", "port": gateway_port, "health_interval_s": 0.5},
            "replicas": replicas,
        },
        "websocket": {"heartbeat_interval_s": 1, "heartbeat_timeout_s": 3},
    }


@pytest.fixture
def sut_config_factory(
    sut_workdir: Path, pg: LocalService, redis_server: LocalService, warehouse: LocalService
) -> ConfigFactory:
    """`sut_config_factory(**{"cache.enabled": False})` → path of a written SUT config file."""
    counter = iter(range(1_000_000))

    def make(overrides: dict[str, Any] | None = None, **dotted: Any) -> Path:
        tree = base_config(pg, redis_server, warehouse)
        for key, value in {**(overrides or {}), **dotted}.items():
            _set_dotted(tree, key, value)
        path = sut_workdir / f"sut-{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(tree, sort_keys=False))
        return path

    return make


@pytest.fixture
def sut_settings(sut_config_factory: ConfigFactory) -> SutSettings:
    return load_sut_settings(sut_config_factory())
