"""Open-model users: their wait_time is "until my next ticket". Tickets come from the worker's
schedule (scenarios.load.engine), so whichever user is free takes the next intended send time:
the sends follow the schedule, spread, never phase-locked, and never slowed by a slow server
(as long as a user is free: a send that finds none starts late and the run counts it).

Write an HTTP user as usual (`@task` methods calling `self.client.get(url, name=...)`); the
worker's request hook measures each task's first request from the ticket's intended start.
"""

from __future__ import annotations

import time
from typing import Any

from locust import FastHttpUser, User
from locust.user.users import LOCUST_STATE_STOPPING

from scenarios.load.engine import Engine, Ticket


def engine_of(user: User) -> Engine:
    engine = getattr(user.environment, "chaosgate_engine", None)
    if not isinstance(engine, Engine):
        raise RuntimeError("no chaosgate engine on this Locust environment (run via LoadRun)")
    return engine


class TicketedUser(User):
    """A Locust user that runs one task per ticket of kind `ticket_kind` ("http" or "ws")."""

    abstract = True
    ticket_kind = "http"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticket: Ticket | None = None

    def context(self) -> dict[str, Any]:
        return {"cg_ticket": self.ticket}

    def _next_ticket(self) -> float | None:
        self.ticket = engine_of(self).claim(self.ticket_kind)
        if self.ticket is None:
            self._state = LOCUST_STATE_STOPPING  # quiet stop: Locust checks it before each task
            return None
        return max(0.0, self.ticket.intended - time.time())

    def on_start(self) -> None:
        wait = self._next_ticket()
        if wait:
            self._taskset_instance._sleep(wait)  # type: ignore[union-attr]

    def wait_time(self) -> float:  # type: ignore[override]
        return self._next_ticket() or 0.0


class OpenModelUser(TicketedUser, FastHttpUser):
    abstract = True
