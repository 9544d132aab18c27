"""Progress of a load run: a live line on a terminal (rich), one plain line every few seconds in CI."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

from scenarios.load.collect import SecondView

CI_EVERY_S = 5.0
CI_EVERY_LONG_S = 60.0  # a soak in a CI log: one line a minute, not 720 an hour
LONG_S = 600.0


def clock(seconds: float) -> str:
    """12:05 or 1:02:05: a long run's elapsed time and ETA at a glance."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def describe(elapsed_s: float, total_s: float, view: SecondView | None) -> str:
    head = f"load {elapsed_s:5.1f}/{total_s:.0f}s"
    if total_s >= LONG_S:  # a long run: clock time and what is left
        head = f"load {clock(elapsed_s)} / {clock(total_s)}, {clock(total_s - elapsed_s)} left"
    if view is None or not view.names:
        return f"{head}  (warming up)"
    worst = max(view.names.values(), key=lambda s: s.p99_ms)
    p50 = max(s.p50_ms for s in view.names.values())
    p95 = max(s.p95_ms for s in view.names.values())
    return (
        f"{head}  s{view.second}: {view.count} req/s  errors {view.errors}  "
        f"p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {worst.p99_ms:.1f} ms"
    )


class Progress:
    def __init__(self, total_s: float, *, enabled: bool = True, live: bool | None = None) -> None:
        self.total_s = total_s
        self.enabled = enabled
        self.live_mode = sys.stdout.isatty() if live is None else live
        self._live: Live | None = None
        self._last_line = 0.0

    def update(self, elapsed_s: float, view: SecondView | None) -> None:
        if not self.enabled:
            return
        line = describe(elapsed_s, self.total_s, view)
        if self.live_mode:
            if self._live is None:
                self._live = Live(Text(line), console=Console(), auto_refresh=False)
                self._live.start()
            self._live.update(Text(line), refresh=True)
        elif time.monotonic() - self._last_line >= (
            CI_EVERY_LONG_S if self.total_s >= LONG_S else CI_EVERY_S
        ):
            self._last_line = time.monotonic()
            print(line, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
