"""The SUT's cost signals and its leak weakening: calls per dependency (what amplification()
reads) and `postgres.leak_on_error` (a connection not given back; what returns() catches)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sut.config import load_sut_settings
from sut.connections import UnifiedConnectionManager
from sut.errors import BreakerOpen, DependencyTimeout

pytestmark = pytest.mark.integration

ConfigFactory = Callable[..., Path]


def _calls(manager: UnifiedConnectionManager, dependency: str) -> float:
    value = manager.metrics.registry.get_sample_value(
        "sut_dependency_calls_total", {"dependency": dependency}
    )
    return value or 0.0


async def test_calls_count_what_the_breaker_lets_through(
    sut_config_factory: ConfigFactory,
) -> None:
    path = sut_config_factory(**{"postgres.statement_timeout_s": 0.3})
    manager = UnifiedConnectionManager(load_sut_settings(path))
    await manager.start()
    try:
        for _ in range(3):
            async with manager.get_connection("postgres") as pg:
                await pg.fetchval("SELECT 1")
        await manager.check("postgres", timeout_s=2)  # health checks are no calls
        assert _calls(manager, "postgres") == 3
        assert _calls(manager, "redis") == 0
        breaker = manager.breakers["postgres"]
        for _ in range(breaker.settings.failure_threshold + 1):  # open it by failures
            with pytest.raises((DependencyTimeout, BreakerOpen)):
                async with manager.get_connection("postgres") as pg:
                    await pg.execute("SELECT pg_sleep(5)")
        counted = _calls(manager, "postgres")
        with pytest.raises(BreakerOpen):
            async with manager.get_connection("postgres"):
                pass
        assert _calls(manager, "postgres") == counted  # refused by the breaker: no call
    finally:
        await manager.close()


@pytest.mark.parametrize("leak", [False, True])
async def test_leak_on_error_keeps_a_failed_connection(
    sut_config_factory: ConfigFactory, leak: bool
) -> None:
    """Old code: no knob; a timed-out query's connection was always given back."""
    path = sut_config_factory(
        **{"postgres.leak_on_error": leak, "postgres.statement_timeout_s": 0.3}
    )
    manager = UnifiedConnectionManager(load_sut_settings(path))
    await manager.start()
    try:
        with pytest.raises(DependencyTimeout):
            async with manager.get_connection("postgres") as pg:
                await pg.execute("SELECT pg_sleep(2)")
        assert manager.pool_stats()["postgres"]["in_use"] == (1 if leak else 0)
    finally:
        await manager.close()


@pytest.mark.parametrize(
    ("knob", "outage", "leaked"), [(False, True, 0), (True, False, 0), (True, True, 1)]
)
async def test_leak_in_cache_outage_needs_both_the_knob_and_a_failing_cache(
    sut_config_factory: ConfigFactory, knob: bool, outage: bool, leaked: int
) -> None:
    """Old code: no knob. `postgres.leak_on_error_in_cache_outage` leaks a failed query's
    connection only while the dashboard's cache is failing (explore's two-fault proof)."""
    from sut.connections.postgres import PostgresPool

    path = sut_config_factory(
        **{"postgres.leak_on_error_in_cache_outage": knob, "postgres.statement_timeout_s": 0.3}
    )
    manager = UnifiedConnectionManager(load_sut_settings(path))
    await manager.start()
    pool = manager.pools["postgres"]
    assert isinstance(pool, PostgresPool)
    pool.cache_outage = outage
    try:
        with pytest.raises(DependencyTimeout):
            async with manager.get_connection("postgres") as pg:
                await pg.execute("SELECT pg_sleep(2)")
        assert manager.pool_stats()["postgres"]["in_use"] == leaked
    finally:
        await manager.close()
