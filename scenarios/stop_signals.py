"""SIGTERM handled like Ctrl-C: a CI runner's cancel, `timeout`, `docker stop` or `kill` must
leave the same record (result.json and its reports) as Ctrl-C does, not a process killed
mid-run with nothing written.

`terminate_as_interrupt()` makes SIGTERM raise KeyboardInterrupt in the main thread while the
work runs; `hold()` then keeps a further SIGTERM from cutting the record short while it is
written. The signal's name is kept so the record says what stopped the run.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class StopSignals:
    """What stopped the run (None: nothing did), and whether a signal may still interrupt."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._armed = True

    def _handler(self, signum: int, _frame: FrameType | None) -> None:
        first = self.received is None
        self.received = self.received or signal.Signals(signum).name
        if self._armed and first:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """While the record is written: a SIGTERM is noted, not raised."""
        self._armed = False
        try:
            yield
        finally:
            self._armed = True

    @property
    def stopped_by(self) -> str:
        return "Ctrl-C" if self.received in (None, "SIGINT") else self.received or "Ctrl-C"


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[StopSignals]:
    """SIGTERM raises KeyboardInterrupt (as Ctrl-C does) inside this block; main thread only
    (elsewhere signal handlers cannot be set: the block then changes nothing)."""
    stops = StopSignals()
    if threading.current_thread() is not threading.main_thread():
        yield stops
        return
    previous = signal.signal(signal.SIGTERM, stops._handler)
    try:
        yield stops
    finally:
        signal.signal(signal.SIGTERM, previous)
