"""What every dependency pool shares: a bounded set of slots with an acquire timeout (and the
in-use / waiting counts /metrics reports), and translating driver errors into the SUT's own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

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


class Slots:
    """At most `size` holders at once; waiting longer than `acquire_timeout_s` is PoolExhausted."""

    def __init__(self, dependency: str, size: int, acquire_timeout_s: float) -> None:
        self.dependency = dependency
        self.acquire_timeout_s = acquire_timeout_s
        self._semaphore = asyncio.Semaphore(size)
        self.in_use = 0
        self.waiting = 0

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        self.waiting += 1
        try:
            async with asyncio.timeout(self.acquire_timeout_s):
                await self._semaphore.acquire()
        except TimeoutError:
            raise PoolExhausted(
                f"no {self.dependency} connection free within {self.acquire_timeout_s}s",
                dependency=self.dependency,
            ) from None
        finally:
            self.waiting -= 1
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
            self._semaphore.release()
