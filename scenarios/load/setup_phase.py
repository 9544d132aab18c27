"""The users' set-up phase before the schedule (on_start, log-ins): how long it may last.
Pure Python, no gevent: the parent (LoadRun) reads its bounds, the workers run the watch."""

from __future__ import annotations

import sys
import time

FINAL_MARGIN_S = 15.0  # after the plan and its drain: the final flush's trip to the parent


class SetupFailed(Exception):
    """The users could not get ready for the schedule (a class that does not load, a set-up
    that raised or never finished): the message says which and where."""


class SetupWatch:
    """The set-up phase lasts as long as it gets somewhere: it fails when no user (or worker)
    got ready for `stall_s` (the start-up timeout), or after SETUP_CAP times that in all; a slow
    set-up that keeps progressing extends it, saying so, instead of failing at a fixed deadline
    (at 10,500 rps two workers' 2,000 users lost a whole run to "within 60 s")."""

    CAP = 5  # a set-up longer than 5 start-up timeouts is broken even if it crawls
    SAY_EVERY_S = 5.0

    def __init__(self, stall_s: float, what: str) -> None:
        self.stall_s, self.what = stall_s, what
        self.started = self.progress_at = self.said_at = time.time()
        self.seen: object = None

    @property
    def elapsed_s(self) -> float:
        return time.time() - self.started

    def check(self, progress: object, done: str) -> None:
        """`progress`: anything that changes when the set-up gets somewhere; `done`: how far
        it got, for the messages. Raises SetupFailed when it stalled or ran past the cap."""
        now = time.time()
        if progress != self.seen:
            self.seen, self.progress_at = progress, now
        stalled = now - self.progress_at
        if stalled > self.stall_s or now - self.started > self.CAP * self.stall_s:
            why = (
                f"none got further for {stalled:.0f} s"
                if stalled > self.stall_s
                else f"still going after {self.CAP} times the start-up timeout"
            )
            raise SetupFailed(
                f"{done} after {now - self.started:.0f} s of set-up (on_start); {why} "
                f"(the start-up timeout: timeouts.startup_s = {self.stall_s:g} s)"
            )
        if now - self.said_at >= self.SAY_EVERY_S:
            self.said_at = now
            print(f"chaosgate load: set-up still going: {done} after {now - self.started:.0f} s",
                  file=sys.stderr, flush=True)  # fmt: skip

    def extended(self, done: str) -> str | None:
        """The line to report when the set-up took longer than the start-up timeout."""
        if self.elapsed_s <= self.stall_s:
            return None
        return (
            f"load set-up took {self.elapsed_s:.1f} s ({done}), longer than the start-up "
            f"timeout ({self.stall_s:g} s): extended while it progressed"
        )
