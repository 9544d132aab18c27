"""The schedule of one worker process as a stream of tickets (intended send times). Pure:
no gevent; `scenarios.load.dispatch` hands the tickets to users when they fall due.

The engine knows every ticket handed out and not yet finished (`in_flight`: queued for a free
user, or a user's task running). When the run stops, `give_up()` records each request still
waiting on the SUT as an error (`stopped_in_flight`, latency = now - intended start), so no
request vanishes from the figures. A ticket still queued for a free user at the stop is recorded
as an error too, under `<user class> (queued at stop)` (latency = now - intended start): it
counts in `error_rate(*)` and `p95(*)`, never vanishes."""

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


STOPPED_IN_FLIGHT = "stopped_in_flight"
QUEUED_AT_STOP = "queued_at_stop"


def queued_name(user_class: str) -> str:
    """The request name a ticket still queued at the stop is recorded under."""
    return f"{user_class or 'user'} (queued at stop)"


@dataclass(eq=False)  # identity: tickets live in a set
class Ticket:
    intended: float  # Unix time this send should start
    started: bool = False  # its first request completed (and was recorded)
    queued_at: float | None = None  # when it waited for a free user (None: an idle one took it)
    request: tuple[str, float] | None = None  # (name, real start) of the request in flight
    given_up: bool = False  # recorded as stopped: whatever it does later is not counted
    user_class: str = ""  # the class the dispatcher drew it for


class Engine:
    def __init__(self, plan: LoadPlan, t0: float, start_at: float, index: int, count: int):
        self.plan = plan
        self.t0 = t0
        self.start_at = start_at
        self.recorder = Recorder(t0, plan.tolerance_ms, index, plan.cpu_limit_percent)
        offsets = {"http": plan_offsets, "ws": websocket_offsets}
        self._iters: dict[str, Iterator[float]] = {
            kind: offsets[kind](plan, index, count) for kind in ticket_kinds(plan)
        }
        self._pending: dict[str, float | None] = {}
        self.taken = 0
        self.skipped = 0  # due but never handed out (the run ended or aborted with a backlog)
        self.aborted = False
        self.end_at = start_at + plan.total_s
        self.in_flight: set[Ticket] = set()
        self.unsent_starved = 0  # queued for a free user and never started (set by give_up)

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
        ticket = Ticket(when)
        self.in_flight.add(ticket)
        return ticket

    def finish(self, ticket: Ticket) -> None:
        """A user is done with this ticket's task."""
        self.in_flight.discard(ticket)

    def oldest_in_flight(self) -> float | None:
        """The earliest intended time (Unix) among tickets handed out and not finished."""
        return min((t.intended for t in self.in_flight), default=None)

    def waiting_on_sut(self) -> int:
        """Tickets with a request in flight."""
        return sum(1 for t in self.in_flight if t.request is not None)

    def give_up(self, now: float) -> int:
        """The run is over: record each request still in flight as an error, latency from the
        intended start (a later request of a task: from its own start) to now; tickets that
        never started are unsent. Returns how many requests were recorded as stopped."""
        stopped = 0
        for ticket in sorted(self.in_flight, key=lambda t: t.intended):
            ticket.given_up = True
            if ticket.request is not None:
                name, started = ticket.request
                intended = started if ticket.started else ticket.intended
                if not ticket.started:
                    self.recorder.record_send(ticket.intended, started, ticket.queued_at)
                    ticket.started = True
                self.recorder.record(name, intended, started, now - started, STOPPED_IN_FLIGHT)
                stopped += 1
            elif not ticket.started and ticket.queued_at is not None:
                self.unsent_starved += 1  # the SUT's slowness kept every slot busy
                name = queued_name(ticket.user_class)
                self.recorder.record(name, ticket.intended, now, 0.0, QUEUED_AT_STOP, service=False)
        self.in_flight.clear()
        return stopped

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
