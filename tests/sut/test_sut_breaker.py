"""The per-dependency breaker's state machine, without any dependency: what counts, and the
single half-open trial."""

from __future__ import annotations

import asyncio

import pytest

from sut.config import BreakerSettings
from sut.connections.breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from sut.errors import BreakerOpen, DependencyTimeout, NotFound, PoolExhausted

pytestmark = pytest.mark.unit


def _breaker(recovery_s: float = 5) -> Breaker:
    settings = BreakerSettings(failure_threshold=3, recovery_timeout_s=recovery_s)
    return Breaker("postgres", settings, lambda name, state: None)


async def _fail(breaker: Breaker, error: BaseException) -> None:
    with pytest.raises(type(error)):
        async with breaker.guard():
            raise error


async def test_calls_shed_by_a_dry_pool_do_not_reset_the_failure_count() -> None:
    # A dry pool sheds most calls between two timeouts; they must not read as successes.
    breaker = _breaker()
    for _ in range(3):
        await _fail(breaker, PoolExhausted("pool dry", dependency="postgres"))
        await _fail(breaker, asyncio.CancelledError())
        await _fail(breaker, DependencyTimeout("no answer", dependency="postgres"))
    assert breaker.state == OPEN


async def test_a_callers_own_error_is_a_success() -> None:
    breaker = _breaker()
    for _ in range(3):
        await _fail(breaker, DependencyTimeout("no answer", dependency="postgres"))
        await _fail(breaker, NotFound("no such item"))  # the database answered
    assert breaker.state == CLOSED


async def test_half_open_admits_one_trial_and_a_cancelled_trial_does_not_close_it() -> None:
    breaker = _breaker(recovery_s=0.05)
    for _ in range(3):
        await _fail(breaker, DependencyTimeout("no answer", dependency="postgres"))
    assert breaker.state == OPEN
    await asyncio.sleep(0.1)  # past the recovery timeout
    assert breaker.effective_state == HALF_OPEN
    trial_started, finish = asyncio.Event(), asyncio.Event()

    async def trial() -> None:
        async with breaker.guard():
            trial_started.set()
            await finish.wait()

    running = asyncio.create_task(trial())
    await trial_started.wait()
    with pytest.raises(BreakerOpen, match="trial"):  # a second caller is turned away
        async with breaker.guard():
            pass
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert breaker.state != CLOSED  # an abandoned trial proved nothing
    async with breaker.guard():  # the next trial succeeds: closed
        pass
    assert breaker.state == CLOSED
