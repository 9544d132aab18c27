"""A per-dependency circuit breaker on purgatory (asyncio-native, maintained, with state listeners).

Only dependency failures count (DependencyUnavailable/DependencyTimeout); a caller's own error,
pool exhaustion under load and task cancellation do not.
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
from sut.errors import BreakerOpen, DependencyTimeout, DependencyUnavailable

CLOSED, HALF_OPEN, OPEN = 0, 1, 2
_STATE = {"closed": CLOSED, "half-opened": HALF_OPEN, "opened": OPEN}


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

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        if not self.settings.enabled:
            yield
            return
        circuit = await self._factory.get_breaker(self.name)
        try:
            await circuit.__aenter__()
        except OpenedState:
            raise BreakerOpen(
                f"{self.name} circuit breaker is open after repeated failures",
                dependency=self.name,
            ) from None
        try:
            yield
        except BaseException as error:
            await circuit.__aexit__(type(error), error, error.__traceback__)
            raise
        await circuit.__aexit__(None, None, None)
