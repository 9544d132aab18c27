"""Open-model users: their wait_time is "until my next ticket". The worker's dispatcher hands out
tickets when they fall due (scenarios.load.dispatch); whichever user is free takes the next one:
the sends follow the schedule, spread, never phase-locked, and never slowed by a slow server
(as long as a user is free: a send that finds none starts late and the run counts it).

Write an HTTP user as usual (`@task` methods calling `self.client.get(url, name=...)`); the
worker's request hook measures each task's first request from the ticket's intended start.
"""

from __future__ import annotations

from typing import Any

from locust import FastHttpUser, User
from locust.user.task import LOCUST_STATE_STOPPING

from scenarios.load.dispatch import Dispatcher
from scenarios.load.engine import Engine, Ticket


def engine_of(user: User) -> Engine:
    engine = getattr(user.environment, "chaosgate_engine", None)
    if not isinstance(engine, Engine):
        raise RuntimeError("no chaosgate engine on this Locust environment (run via LoadRun)")
    return engine


def dispatcher_of(user: User) -> Dispatcher:
    dispatcher = getattr(user.environment, "chaosgate_dispatcher", None)
    if not isinstance(dispatcher, Dispatcher):
        raise RuntimeError("no chaosgate dispatcher on this Locust environment (run via LoadRun)")
    return dispatcher


class TicketedUser(User):
    """A Locust user that runs one task per ticket of kind `ticket_kind` ("http" or "ws")."""

    abstract = True
    ticket_kind = "http"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticket: Ticket | None = None

    def context(self) -> dict[str, Any]:
        return {"cg_ticket": self.ticket}

    def _next_ticket(self) -> None:
        """Block until the dispatcher hands this user a due ticket (or the schedule ends)."""
        self.ticket = dispatcher_of(self).next(type(self).__name__)
        if self.ticket is None:
            self._state = LOCUST_STATE_STOPPING  # quiet stop: Locust checks it before each task

    def on_start(self) -> None:
        self._next_ticket()

    def wait_time(self) -> float:
        self._next_ticket()
        return 0.0


class OpenModelUser(TicketedUser, FastHttpUser):
    abstract = True
