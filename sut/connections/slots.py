"""What every dependency pool shares: a bounded set of slots with an acquire timeout and a bounded
wait queue (and the in-use / waiting counts /metrics reports), and translating driver errors into
the SUT's own."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol

from sut.errors import DependencyError, PoolExhausted

Classifier = Callable[[BaseException], DependencyError | None]


@contextlib.contextmanager
def translated(classify: Classifier) -> Iterator[None]:
    """Re-raise a driver error as the SUT's named error; the caller's own errors pass unchanged."""
    try:
        yield
    except Exception as error:
        mapped = classify(error)
        if mapped is None:
            raise
        raise mapped from error


class Held:
    """One holder's slot. `leaked` (a test-only weakening) keeps it taken after the holder
    leaves: a connection never given back."""

    leaked: bool = False


class PoolLimits(Protocol):
    """The pool section of a dependency's settings."""

    @property
    def max_size(self) -> int: ...
    @property
    def acquire_timeout_s(self) -> float: ...
    @property
    def max_waiting(self) -> int: ...


class Slots:
    """At most `size` holders at once. A caller that finds none free waits at most
    `acquire_timeout_s`, and only if fewer than `max_waiting` callers already wait (0: no bound);
    otherwise PoolExhausted at once. A dry pool thus answers 503 fast instead of queueing."""

    def __init__(
        self,
        dependency: str,
        size: int,
        acquire_timeout_s: float,
        max_waiting: int = 0,
        admit: Callable[[], None] | None = None,
    ) -> None:
        self.dependency = dependency
        self.admit = (
            admit  # checked when a waiter gets its slot (e.g. the breaker opened meanwhile)
        )
        self.size = size
        self.acquire_timeout_s = acquire_timeout_s
        self.max_waiting = max_waiting
        self._semaphore = asyncio.Semaphore(size)
        self.in_use = 0
        self.waiting = 0
        self.shed = 0  # callers turned away at once because the wait queue was full
        self._failed_until = 0.0

    @classmethod
    def for_pool(
        cls, dependency: str, limits: PoolLimits, admit: Callable[[], None] | None = None
    ) -> Slots:
        return cls(dependency, limits.max_size, limits.acquire_timeout_s, limits.max_waiting, admit)

    def note_failure(self, for_s: float) -> None:
        """A held connection just failed: for `for_s`, a caller that had to wait for a slot is
        turned away when it gets one (the slot was most likely freed by that failure, and the
        breaker has not counted enough failures yet to stop callers itself)."""
        self._failed_until = time.monotonic() + for_s

    def _admit_waiter(self) -> None:
        if time.monotonic() < self._failed_until:
            raise PoolExhausted(
                f"a {self.dependency} connection just failed; not queueing callers behind it",
                dependency=self.dependency,
            )
        if self.admit is not None:
            self.admit()

    @contextlib.asynccontextmanager
    async def hold(self, *, admit: bool = True) -> AsyncIterator[Held]:
        if self._semaphore.locked() and 0 < self.max_waiting <= self.waiting:
            self.shed += 1
            raise PoolExhausted(
                f"no {self.dependency} connection free and {self.waiting} callers already "
                f"waiting (max_waiting {self.max_waiting})",
                dependency=self.dependency,
            )
        waited = self._semaphore.locked()
        self.waiting += 1
        try:
            async with asyncio.timeout(self.acquire_timeout_s):
                await self._semaphore.acquire()
        except TimeoutError:
            raise PoolExhausted(
                f"no {self.dependency} connection free within {self.acquire_timeout_s}s "
                f"({self.in_use}/{self.size} in use)",
                dependency=self.dependency,
            ) from None
        finally:
            self.waiting -= 1
        if admit and waited:
            try:
                self._admit_waiter()
            except BaseException:
                self._semaphore.release()
                raise
        self.in_use += 1
        held = Held()
        try:
            yield held
        finally:
            if not held.leaked:
                self.in_use -= 1
                self._semaphore.release()
