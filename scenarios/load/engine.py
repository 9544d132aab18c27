"""The ticket dispenser of one worker process: hands out intended send times to whichever user
is free, so sends follow the schedule, not the users (no phase alignment, no closed loop)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from scenarios.load.plan import LoadPlan
from scenarios.load.recorder import Recorder
from scenarios.load.schedule import plan_offsets, websocket_offsets


@dataclass
class Ticket:
    intended: float  # Unix time this send should start
    started: bool = False


class Engine:
    def __init__(self, plan: LoadPlan, t0: float, start_at: float, index: int, count: int):
        self.plan = plan
        self.t0 = t0
        self.start_at = start_at
        self.recorder = Recorder(t0, plan.tolerance_ms, index)
        self._iters: dict[str, Iterator[float]] = {}  # only kinds some user will claim
        if plan.http_users:
            self._iters["http"] = plan_offsets(plan, index, count)
        if "websocket" in plan.users:
            self._iters["ws"] = websocket_offsets(plan, index, count)
        self._pending: dict[str, float | None] = {}
        self.claimed = 0
        self.skipped = 0  # due but never sent (the run ended or aborted with a backlog)
        self.aborted = False
        self.end_at = start_at + plan.duration_s

    def _peek(self, kind: str) -> float | None:
        if kind not in self._pending:
            self._pending[kind] = next(self._iters[kind], None)
        return self._pending[kind]

    def claim(self, kind: str) -> Ticket | None:
        """The next send of this kind, or None when the schedule is over (or aborted)."""
        offset = self._peek(kind)
        if offset is None or self.aborted:
            return None
        del self._pending[kind]
        self.claimed += 1
        return Ticket(self.start_at + offset)

    def exhausted(self) -> bool:
        return self.aborted or all(self._peek(kind) is None for kind in self._iters)

    def abort(self) -> None:
        """Stop handing out tickets; the ones due by now still count as scheduled."""
        if not self.aborted:
            self._due_unclaimed(time.time())
            self.aborted = True

    def _due_unclaimed(self, now: float) -> int:
        due = 0
        for kind in self._iters:
            while (offset := self._peek(kind)) is not None and self.start_at + offset <= now:
                del self._pending[kind]
                due += 1
        self.skipped += due
        return due

    def scheduled(self) -> int:
        """Sends whose intended time has come (all of them once the schedule is over)."""
        if not self.aborted:
            self._due_unclaimed(time.time())
        return self.claimed + self.skipped
