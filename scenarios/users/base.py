"""Open-model users: their wait_time is "until my next ticket". The worker's dispatcher hands out
tickets when they fall due (scenarios.load.dispatch); whichever user is free takes the next one:
the sends follow the schedule, spread, never phase-locked, and never slowed by a slow server
(as long as a user is free: a send that finds none starts late and the run counts it).

Write an HTTP user as usual (`@task` methods calling `self.client.get(url, name=...)`); the
worker's request hook measures each task's first request from the ticket's intended start.
The user notes the request it has in flight on its ticket (name, real start) and tells the
engine when the task is done, so a stop records what is still waiting on the SUT.

Set-up (`on_start`: an item of one's own, a connection) goes through `set_up()`: paced (at
most `load.setup_concurrency` calls in flight per worker, under the SUT's shed limit, instead of
every user at once), a refusal retried with backoff, every outcome counted per class (shipped
in a `setup` record). A task whose set-up failed calls `missing(request)` and returns: it never
sends another request in its place; the run counts it, and is INVALID for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import gevent
from locust import FastHttpUser, TaskSet, User
from locust.user.task import LOCUST_STATE_STOPPING

from scenarios.load.dispatch import Dispatcher
from scenarios.load.engine import Engine, Ticket
from scenarios.users import lean_client
from scenarios.users.lean_http import lean_session_for

T = TypeVar("T")
SETUP_BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0)  # then give up: 6 attempts over ~4 s


class SetupRefused(Exception):
    """A set-up call the SUT refused (e.g. `http_503`): retried, then counted as failed."""


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
    """A Locust user that runs one task per ticket of kind `ticket_kind` ("http" or "ws").

    `lean_client = True`: a FastHttpUser's `self.client` is the lean keep-alive client
    (scenarios.users.lean_http: no cookie jar; it follows redirects as Locust's does), where it
    keeps what the class asked for. The shipped users and request mixes without `setup:` set it; a user's own class
    keeps Locust's client unless it sets it (its log-in may rely on a cookie)."""

    abstract = True
    ticket_kind = "http"
    lean_client: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticket: Ticket | None = None
        self.cg_missing: str | None = None  # the request this task could not send (set-up)
        if self.lean_client and (lean := lean_session_for(self)) is not None:
            # (FastHttpUser types `client` as its session; this one has its API)
            vars(self)["client"] = lean  # it notes the request in flight on the ticket itself
        else:
            self._track_requests()

    def _track_requests(self) -> None:
        """Wrap the HTTP client's `request` (every get/post goes through it): the ticket knows
        the request in flight, its name and real start."""
        client = getattr(self, "client", None)
        inner = getattr(client, "request", None)
        if client is None or inner is None:
            return

        def request(method: str, url: str, name: str | None = None, *args: Any, **kw: Any) -> Any:
            ticket = self.ticket
            if ticket is not None:
                ticket.request = (name or url, time.time())
            try:
                return inner(method, url, name, *args, **kw)
            finally:
                if ticket is not None:
                    ticket.request = None

        client.request = request

    def context(self) -> dict[str, Any]:
        return {"cg_ticket": self.ticket}

    def set_up(self, step: str, call: Callable[[], T]) -> T | None:
        """Run one set-up step (`call` raises SetupRefused when the SUT refuses it), paced
        under the worker's set-up limit and retried with backoff; None when it failed. Its
        requests are not scheduled sends: they are in no figure, only in the set-up tally."""
        dispatcher = dispatcher_of(self)
        tally = dispatcher.setup_tally(type(self).__name__)
        tally["users"] += 1
        for attempt in range(len(SETUP_BACKOFF_S) + 1):
            with dispatcher.setup_slots:
                tally["attempts"] += 1
                try:
                    return call()
                except SetupRefused as refused:
                    tally["refused"] += 1
                    kind = f"{step}: {refused}"
                    tally["errors"][kind] = tally["errors"].get(kind, 0) + 1
            if attempt < len(SETUP_BACKOFF_S):
                gevent.sleep(SETUP_BACKOFF_S[attempt])
        tally["failed"] += 1
        return None

    def missing(self, request: str) -> None:
        """This task cannot send `request`: its set-up failed. Counted (the run is INVALID for
        it); the task sends nothing else in its place."""
        self.cg_missing = request  # counted when the task returns (_next_ticket)

    def _next_ticket(self) -> None:
        """Block until the dispatcher hands this user a due ticket (or the schedule ends).
        The first call marks the user ready: its set-up (`on_start`) is done, and the
        schedule starts only once every user is ready (set-up is never counted as load)."""
        if not getattr(self, "cg_ready", False):
            self.cg_ready = True
            dispatcher_of(self).ready += 1
        if self.ticket is not None:
            engine = engine_of(self)
            if not self.ticket.started and not self.ticket.given_up:
                # the task returned without a request: on time, not a late send
                engine.recorder.record_no_request(type(self).__name__, self.cg_missing)
            self.cg_missing = None
            engine.finish(self.ticket)
            self.ticket = None
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
    lean_client = True


def ticketed_sleep(self: TaskSet, seconds: float) -> None:
    """TaskSet.wait's sleep, without Locust's `sleep(0)` after each task of a ticketed user
    (scenarios.users.lean_client)."""
    if seconds > 0 or not isinstance(self.user, TicketedUser):
        gevent.sleep(seconds)


TaskSet._sleep = ticketed_sleep  # type: ignore[method-assign]
lean_client.install()
