"""The schedule of one worker process as a stream of tickets (intended send times). Pure:
no gevent; `scenarios.load.dispatch` hands the tickets to users when they fall due."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from scenarios.load.plan import LoadPlan
from scenarios.load.recorder import Recorder
from scenarios.load.schedule import plan_offsets, websocket_offsets


def ticket_kinds(plan: LoadPlan) -> list[str]:
    """The kinds of ticket some user of this plan will take."""
    return (["http"] if plan.http_users else []) + (["ws"] if "websocket" in plan.users else [])


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
        offsets = {"http": plan_offsets, "ws": websocket_offsets}
        self._iters: dict[str, Iterator[float]] = {
            kind: offsets[kind](plan, index, count) for kind in ticket_kinds(plan)
        }
        self._pending: dict[str, float | None] = {}
        self.taken = 0
        self.skipped = 0  # due but never handed out (the run ended or aborted with a backlog)
        self.aborted = False
        self.end_at = start_at + plan.duration_s

    @property
    def kinds(self) -> list[str]:
        return list(self._iters)

    def next_due(self, kind: str) -> float | None:
        """The intended time of the next ticket of this kind, or None when there is none."""
        if kind not in self._pending:
            self._pending[kind] = next(self._iters[kind], None)
        offset = self._pending[kind]
        return None if offset is None or self.aborted else self.start_at + offset

    def take(self, kind: str) -> Ticket | None:
        when = self.next_due(kind)
        if when is None:
            return None
        del self._pending[kind]
        self.taken += 1
        return Ticket(when)

    def exhausted(self) -> bool:
        return self.aborted or all(self.next_due(kind) is None for kind in self._iters)

    def abort(self) -> None:
        """Stop handing out tickets; the ones due by now still count as scheduled."""
        if not self.aborted:
            self._count_due(time.time())
            self.aborted = True

    def _count_due(self, now: float) -> None:
        for kind in self._iters:
            while (when := self.next_due(kind)) is not None and when <= now:
                del self._pending[kind]
                self.skipped += 1

    def scheduled(self) -> int:
        """Sends whose intended time has come (all of them once the schedule is over)."""
        if not self.aborted:
            self._count_due(time.time())
        return self.taken + self.skipped
