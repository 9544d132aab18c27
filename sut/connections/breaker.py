"""A per-dependency circuit breaker on purgatory (asyncio-native, maintained, with state listeners).

Only dependency failures count (DependencyUnavailable/DependencyTimeout). A caller's own error
counts as a success (the dependency answered); pool exhaustion, a call turned away by the breaker
and task cancellation count as nothing. Half-open admits one trial call at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from purgatory import AsyncCircuitBreakerFactory, AsyncInMemoryUnitOfWork
from purgatory.domain.model import OpenedState

from sut.config import BreakerSettings
from sut.errors import BreakerOpen, DependencyTimeout, DependencyUnavailable, PoolExhausted

CLOSED, HALF_OPEN, OPEN = 0, 1, 2
_STATE = {"closed": CLOSED, "half-opened": HALF_OPEN, "opened": OPEN}


# Outcomes that say nothing about the dependency: the call never reached it (pool dry, breaker
# opened meanwhile) or was abandoned by its caller.
NEUTRAL = (PoolExhausted, BreakerOpen, asyncio.CancelledError)


def _not_a_dependency_failure(error: BaseException) -> bool:
    return not isinstance(error, DependencyUnavailable | DependencyTimeout)


class Breaker:
    """One dependency's breaker; `state` follows purgatory's events, `effective_state` the clock."""

    def __init__(
        self, name: str, settings: BreakerSettings, on_change: Callable[[str, int], None]
    ) -> None:
        self.name = name
        self.settings = settings
        self.state = CLOSED
        self.opened_at: float | None = None
        self._trial_running = False
        self._on_change = on_change
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=settings.failure_threshold,
            default_ttl=settings.recovery_timeout_s,
            exclude=[asyncio.CancelledError, (BaseException, _not_a_dependency_failure)],
            uow=AsyncInMemoryUnitOfWork(),
        )
        self._factory.add_listener(self._listen)

    def _listen(self, circuit: str, event_name: str, event: Any) -> None:
        if event_name != "state_changed":
            return
        self.state = _STATE.get(event.state, CLOSED)
        self.opened_at = time.time() if self.state == OPEN else None
        self._on_change(self.name, self.state)

    @property
    def effective_state(self) -> int:
        """Open turns half-open once the recovery timeout has passed (purgatory flips lazily)."""
        if (
            self.state == OPEN
            and self.opened_at is not None
            and time.time() > self.opened_at + self.settings.recovery_timeout_s
        ):
            return HALF_OPEN
        return self.state

    def state_now(self) -> float:
        return float(self.effective_state)

    def admit(self) -> None:
        """Raise BreakerOpen if the breaker opened meanwhile: a caller that waited for a pool
        slot while it opened must not then try the broken dependency (and wait on it)."""
        if self.settings.enabled and self.effective_state == OPEN:
            raise BreakerOpen(
                f"{self.name} circuit breaker opened while this call waited for a connection",
                dependency=self.name,
            )

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        if not self.settings.enabled:
            yield
            return
        # Half-open admits ONE trial call (purgatory lets every call through until one fails):
        # while the dependency is still broken, one caller waits on it, not a pool's worth.
        trial = self.effective_state == HALF_OPEN
        if trial and self._trial_running:
            raise BreakerOpen(
                f"{self.name} circuit breaker is half-open and its trial call is running",
                dependency=self.name,
            )
        circuit = await self._factory.get_breaker(self.name)
        try:
            await circuit.__aenter__()
        except OpenedState:
            raise BreakerOpen(
                f"{self.name} circuit breaker is open after repeated failures",
                dependency=self.name,
            ) from None
        self._trial_running = self._trial_running or trial
        try:
            yield
        except NEUTRAL:
            # Neither a failure nor a success: purgatory counts an excluded error as a success,
            # so a shed call would reset the failure count (and close a half-open breaker).
            raise
        except BaseException as error:
            await circuit.__aexit__(type(error), error, error.__traceback__)
            raise
        else:
            await circuit.__aexit__(None, None, None)
        finally:
            if trial:
                self._trial_running = False
