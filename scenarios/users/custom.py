"""The user's own load as ticketed Locust users (load worker process only: imports Locust).

Answers: a class's `response_rules = {"GET /x": [{"header": "X-Degraded", "then": "degraded"}]}`
(scenarios.users.answers) mark accepted answers `degraded` or `wrong`, as do a mix's `answer:`
rules and a `catch_response` block's `response.failure("degraded: <why>")`. A client timeout is
`timeout` whatever the block made of it.

A locustfile class is used unchanged: the worker derives `(TicketedUser, TheirClass)`, so the
ticketing wait replaces their `wait_time`, their `@task`s run one per ticket, and their
`on_start` (logins, set-up) runs before the user takes its first ticket, that is before the
schedule starts (the worker waits for every user to be ready). A request mix becomes an
`OpenModelUser` whose one task sends a request drawn by weight.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import traceback
from pathlib import Path
from typing import Any

import requests
from locust import FastHttpUser, HttpUser, TaskSet, User, task

from scenarios.users import mix_setup
from scenarios.users.answers import parse_named_rules, register
from scenarios.users.base import OpenModelUser, TicketedUser, dispatcher_of
from scenarios.users.locustfile import split_entry
from scenarios.users.request_mix import Mix, Request, load_mix, render_value


class UserClassError(Exception):
    """The user's class cannot be loaded; the message says why (and where)."""


def _import_file(path: Path) -> Any:
    name = f"chaosgate_user_{abs(hash(str(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserClassError(f"{path}: cannot import (expected a Python file)")
    module = importlib.util.module_from_spec(spec)
    # like Locust: the locustfile's folder is importable (its helpers next to it)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)]
        line = f":{frames[-1].lineno}" if frames else ""
        raise UserClassError(
            f"{path}{line}: importing it raised {type(error).__name__}: {error}"
        ) from error
    return module


def _ticketed_tasksets(tasks: Any, seen: set[type] | None = None) -> None:
    """A TaskSet's own `wait_time` would pace its tasks itself: put the user's back (the
    ticket). Only this worker process imports the locustfile, so changing its class is ours."""
    seen = set() if seen is None else seen
    for item in tasks:  # Locust's metaclasses make every `tasks` a list
        if isinstance(item, type) and issubclass(item, TaskSet) and item not in seen:
            seen.add(item)
            if item.wait_time is not TaskSet.wait_time:
                item.wait_time = TaskSet.wait_time  # type: ignore[method-assign]
            _ticketed_tasksets(item.tasks, seen)


def locustfile_user(path: Path, class_name: str, timeout_s: float) -> type[User]:
    """Their class, ticketed: one task per ticket, their set-up before the schedule."""
    theirs = getattr(_import_file(path), class_name, None)
    if not (isinstance(theirs, type) and issubclass(theirs, HttpUser | FastHttpUser)):
        raise UserClassError(
            f"{path}: {class_name} is not a Locust user "
            "(expected a subclass of HttpUser or FastHttpUser with @task methods)"
        )

    try:  # their response rules (a documented hook): checked here, read by the request hook
        rules = parse_named_rules(
            getattr(theirs, "response_rules", {}), f"{class_name}.response_rules"
        )
    except ValueError as error:
        raise UserClassError(f"{path}: {error}") from None
    register(rules)

    def on_start(self: TicketedUser) -> None:
        theirs.on_start(self)  # their set-up: no ticket yet, so not counted as load
        TicketedUser.on_start(self)

    def __init__(self: TicketedUser, *args: Any, **kwargs: Any) -> None:
        TicketedUser.__init__(self, *args, **kwargs)
        client = getattr(self, "client", None)
        if isinstance(client, requests.Session):  # HttpUser: requests has no default timeout
            inner = client.request

            def request(method: str, url: str, *a: Any, **kw: Any) -> Any:
                kw.setdefault("timeout", timeout_s)
                return inner(method, url, *a, **kw)

            client.request = request  # type: ignore[method-assign,assignment]

    namespace = {
        "abstract": False,
        "on_start": on_start,
        "__init__": __init__,
        "__module__": theirs.__module__,
        "__doc__": theirs.__doc__,
        "response_rules": rules,
    }
    ticketed: type[User] = type(class_name, (TicketedUser, theirs), namespace)
    _ticketed_tasksets(ticketed.tasks)
    return ticketed


def _dig(value: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if isinstance(value, dict):
            value = value[key]
        elif isinstance(value, list) and key.isdigit():
            value = value[int(key)]
        else:
            raise KeyError(key)
    return value


class MixUser(OpenModelUser):
    """One request per ticket, drawn by weight among those whose captured values it has."""

    abstract = True
    mix: Mix

    def on_start(self) -> None:
        self.captured: dict[str, Any] = {}
        # seeded from the plan's seed (through the dispatcher's seeded draw, in spawn order): the
        # same scenario and seed send the same paths and bodies
        self.rng = random.Random(dispatcher_of(self).rng.getrandbits(64))
        mix_setup.start(self, self.mix)  # the mix's `setup:` (log-in), not scored
        super().on_start()

    def _draw(self) -> Request:
        ready = [r for r in self.mix.requests if r.needs <= self.captured.keys()]
        return self.rng.choices(ready, weights=[r.weight for r in ready])[0]

    @task
    def one_request(self) -> None:
        chosen = self._draw()
        path = str(chosen.path.render(self.rng, self.captured))
        kwargs: dict[str, Any] = {}
        if chosen.headers:
            kwargs["headers"] = {
                k: str(render_value(v, self.rng, self.captured)) for k, v in chosen.headers.items()
            }
        if chosen.json_body is not None:
            kwargs["json"] = render_value(chosen.json_body, self.rng, self.captured)
        with self.client.request(
            chosen.method, path, name=chosen.name, catch_response=True, **kwargs
        ) as response:
            status = response.status_code or 0
            if self.mix.setup is not None and status in self.mix.setup.rerun_on:
                mix_setup.rerun(self, self.mix, status)  # an expired log-in: again, bounded
            if not chosen.accepts(status):
                expected = sorted(chosen.expect) if chosen.expect else "2xx/3xx"
                response.failure(f"status {status}, expected {expected}")
                return
            response.success()
            if chosen.capture:
                self._capture(chosen, response)

    def _capture(self, chosen: Request, response: Any) -> None:
        try:
            body = response.json()
        except ValueError:
            return  # not JSON: nothing captured (requests using it stay skipped)
        for name, dotted in chosen.capture.items():
            try:
                self.captured[name] = _dig(body, dotted)
            except (KeyError, IndexError, TypeError):
                continue


def mix_user(path: Path) -> type[User]:
    mix = load_mix(path)
    from scenarios.users import class_name

    name = class_name(str(path))
    register(mix.response_rules)
    namespace = {
        "abstract": False,
        "mix": mix,
        "lean_client": mix.setup is None,  # a log-in may rely on a cookie: Locust's client
        "__module__": __name__,
        "response_rules": mix.response_rules,
    }
    return type(name, (MixUser,), namespace)


def load_user(entry: str, timeout_s: float) -> type[User]:
    """A `load.users` entry that is not a shipped name (an absolute path, see resolve_user)."""
    parts = split_entry(entry)
    if parts is not None:
        return locustfile_user(Path(parts[0]), parts[1], timeout_s)
    try:
        return mix_user(Path(entry))
    except ValueError as error:
        raise UserClassError(str(error)) from error
