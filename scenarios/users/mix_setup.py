"""A request mix's `setup:` step at run time (load worker process only: imports gevent).

Set-up requests are sent with the user's own client but carry no ticket, so the worker's
request hook does not score them (like a locustfile's `on_start`). `per_worker` state is
shared by every user of the class in this process; a lock makes one user log in while the
others wait for its token. The figures (how many set-ups, how long, failures) are kept per
class and shipped once every user is ready (`setup_lines`).
"""

from __future__ import annotations

import time
from collections import ChainMap
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from gevent.lock import Semaphore

from scenarios.users.request_mix import Mix, Request, Setup, SetupStep, render_value

RERUN_MIN_INTERVAL_S = 1.0  # a 401 right after a fresh log-in is the service's answer, not expiry


class SetupError(Exception):
    """A set-up request failed: the message names it, its status and what was expected."""


@dataclass
class SetupState:
    """The captured values of one log-in (one user's, or a worker's shared by its users)."""

    captured: dict[str, Any] = field(default_factory=dict)
    lock: Semaphore = field(default_factory=Semaphore)
    generation: int = 0  # set-ups done so far: a user who saw an older one may re-run
    reruns: int = 0
    last_done: float = 0.0


@dataclass
class SetupFigures:
    """Per user class, in this worker process."""

    mode: str
    users: int = 0
    runs: int = 0
    reruns: int = 0
    failures: int = 0
    first_start: float | None = None
    last_end: float | None = None
    errors: list[str] = field(default_factory=list)

    def line(self, class_name: str) -> str:
        took = (self.last_end or 0.0) - (self.first_start or 0.0)
        shared = (
            f", {self.runs} log-in(s) shared ({self.mode})" if self.mode == "per_worker" else ""
        )
        failed = f", {self.failures} failed: {self.errors[0]}" if self.failures else ""
        return f"set-up: {self.users} users of {class_name} ready in {took:.1f} s{shared}{failed}"


FIGURES: dict[str, SetupFigures] = {}
_SHARED: dict[str, SetupState] = {}


def _capture(step: Request, response: Any, into: dict[str, Any]) -> None:
    from scenarios.users.custom import _dig

    body: Any = None
    for name, source in step.capture.items():
        if source.startswith("header:"):
            value = response.headers.get(source.removeprefix("header:").strip())
            if value is None:
                raise SetupError(f"set-up {step.name}: no {source} in the response")
            into[name] = value
            continue
        if body is None:
            try:
                body = response.json()
            except ValueError:
                raise SetupError(f"set-up {step.name}: the response is not JSON") from None
        try:
            into[name] = _dig(body, source)
        except (KeyError, IndexError, TypeError):
            raise SetupError(f"set-up {step.name}: no {source!r} in the JSON answer") from None


def _send(user: Any, step: SetupStep, captured: dict[str, Any]) -> None:
    request = step.request
    values = ChainMap(captured)
    kwargs: dict[str, Any] = {"headers": {}}
    for key, value in request.headers.items():
        kwargs["headers"][key] = str(render_value(value, user.rng, values))
    if request.json_body is not None:
        kwargs["json"] = render_value(request.json_body, user.rng, values)
    if step.form is not None:
        form = {k: str(render_value(v, user.rng, values)) for k, v in step.form.items()}
        kwargs["data"] = urlencode(form)
        kwargs["headers"].setdefault("Content-Type", "application/x-www-form-urlencoded")
    path = str(request.path.render(user.rng, values))
    with user.client.request(
        request.method,
        path,
        name=f"set-up: {request.name}",
        catch_response=True,
        context={"cg_ticket": None},  # not a scheduled send: the worker's hook skips it
        **kwargs,
    ) as response:
        status = response.status_code or 0
        if not request.accepts(status):
            expected = sorted(request.expect) if request.expect else "2xx/3xx"
            error = getattr(response, "error", None)
            why = f" ({type(error).__name__}: {error})" if status == 0 and error else ""
            response.failure(f"status {status}")
            raise SetupError(
                f"set-up {request.name}: status {status}{why}, expected {expected}"
                + (_crowd(user) if status == 0 else "")
            )
        _capture(request, response, captured)
        response.success()


def _crowd(user: Any) -> str:
    """A log-in that timed out while every user logs in at once: say what helps."""
    setup = user.mix.setup
    if setup is None or setup.once != "per_user":
        return ""
    users = getattr(getattr(user.environment, "runner", None), "user_count", None) or "all"
    return (
        f" ({users} users log in at once with `once: per_user`; `once: per_worker` logs in "
        "once per load worker, shared by its users)"
    )


def _run_steps(user: Any, setup: Setup, state: SetupState, figures: SetupFigures) -> None:
    start = time.time()
    figures.first_start = min(figures.first_start or start, start)
    fresh: dict[str, Any] = {}
    try:
        for step in setup.steps:
            _send(user, step, fresh)
    except SetupError as error:
        figures.failures += 1
        if len(figures.errors) < 3:
            figures.errors.append(str(error))
        raise
    finally:
        figures.last_end = time.time()
    figures.runs += 1
    state.captured.update(fresh)
    state.generation += 1
    state.last_done = time.time()


def _state(user: Any, setup: Setup) -> SetupState:
    key = type(user).__name__
    if setup.once == "per_worker":
        return _SHARED.setdefault(key, SetupState())
    state: SetupState | None = getattr(user, "cg_setup_state", None)
    if state is None:
        state = SetupState()
        user.cg_setup_state = state
    return state


def start(user: Any, mix: Mix) -> None:
    """In the user's on_start: log in (or wait for the worker's log-in) and make the set-up's
    captures visible to the scored requests. Raises SetupError: the run cannot start."""
    setup = mix.setup
    if setup is None:
        return
    figures = FIGURES.setdefault(type(user).__name__, SetupFigures(setup.once))
    figures.users += 1
    state = _state(user, setup)
    with state.lock:
        if state.generation == 0:
            _run_steps(user, setup, state, figures)
        else:
            figures.last_end = max(figures.last_end or 0.0, time.time())
    user.cg_setup_seen = state.generation
    user.captured = ChainMap(user.captured, state.captured)


def rerun(user: Any, mix: Mix, status: int) -> None:
    """A scored request got a `rerun_on` status (an expired token): log in again, unless
    another user already did since this one's request, the last log-in is under a second
    old, or `max_reruns` are spent. A failed re-run keeps the old values (the 401s show)."""
    setup = mix.setup
    if setup is None or status not in setup.rerun_on:
        return
    state = _state(user, setup)
    figures = FIGURES[type(user).__name__]
    with state.lock:
        if state.generation != getattr(user, "cg_setup_seen", 0):
            user.cg_setup_seen = state.generation  # someone logged in again meanwhile
            return
        if state.reruns >= setup.max_reruns:
            return
        if time.time() - state.last_done < RERUN_MIN_INTERVAL_S:
            return
        state.reruns += 1
        figures.reruns += 1
        try:
            _run_steps(user, setup, state, figures)
        except SetupError:
            return
        user.cg_setup_seen = state.generation


def rerun_lines() -> list[str]:
    """At the end: the classes that logged in again (after a `rerun_on` status)."""
    return [
        f"set-up again: {figures.reruns} time(s) for {name} after a rerun_on status"
        f"{f', {figures.failures} set-up(s) failed: {figures.errors[-1]}' if figures.failures else ''}"
        for name, figures in sorted(FIGURES.items())
        if figures.reruns
    ]


def setup_lines() -> list[str]:
    """One line per class that ran a set-up in this process, for the run's start."""
    return [figures.line(name) for name, figures in sorted(FIGURES.items())]
