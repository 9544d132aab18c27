"""Work the backend keeps doing after a caller stopped waiting for it, owned by the app.

`within(coro, deadline_s)` answers the caller by its deadline but lets the work finish in the
background, so a dependency's breaker still sees the real outcome (a cancelled call counts as
nothing). `once(key, coro)` runs at most one task per key (a single refresh in flight).
`close()` cancels whatever is still running, so no task outlives the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("sut.api")
T = TypeVar("T")


class Missed(Exception):
    """The work did not finish within the caller's deadline (it goes on in the background)."""

    def __init__(self, deadline_s: float) -> None:
        super().__init__(f"no answer within the {deadline_s * 1000:.0f} ms deadline")
        self.deadline_s = deadline_s


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Nobody may await a task left behind: read its outcome so asyncio does not warn."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.debug("background task %s failed: %r", task.get_name(), error)


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keyed: dict[str, asyncio.Task[Any]] = {}

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_retrieve)
        return task

    async def within(self, coro: Coroutine[Any, Any, T], deadline_s: float | None, name: str) -> T:
        """The result of `coro`, or Missed after `deadline_s` (None: wait for it)."""
        task = self.spawn(coro, name)
        done, _ = await asyncio.wait({task}, timeout=deadline_s)
        if not done:
            assert deadline_s is not None
            raise Missed(deadline_s)
        return task.result()

    def once(self, key: str, coro: Coroutine[Any, Any, Any]) -> bool:
        """Start `coro` unless a task for `key` still runs; True if it was started."""
        if key in self._keyed:
            coro.close()  # never scheduled: close it so Python does not warn
            return False
        task = self.spawn(coro, f"refresh {key}")
        self._keyed[key] = task
        task.add_done_callback(lambda _: self._keyed.pop(key, None))
        return True

    def in_flight(self, key: str) -> bool:
        return key in self._keyed

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        """Nothing to open: tasks start on demand."""

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
