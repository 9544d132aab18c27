"""Runs the lean client's test cases in a load worker's setting (gevent monkey-patched, Locust
imported), each also through Locust's FastHttpSession: `python tests/load/lean_driver.py URL
DEAD_URL` prints one JSON object, case -> {"lean": ..., "locust": ...}: what each client's
`events.request` fire carried and the (error kind, outcome) the worker's hook records of it
(scenarios.load.recorder.outcome_of)."""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from locust.contrib.fasthttp import FastHttpSession  # noqa: E402
from locust.event import EventHook  # noqa: E402

from scenarios.load.recorder import outcome_of  # noqa: E402
from scenarios.users.answers import parse_named_rules, register  # noqa: E402
from scenarios.users.lean_http import LeanSession  # noqa: E402

TIMEOUT_S = 0.5
register(parse_named_rules({"GET /degraded": [{"header": "X-Degraded", "then": "degraded"}]}, "t"))


def connections(url: str) -> int:
    with urllib.request.urlopen(url + "/_connections", timeout=5) as answer:
        return int(json.loads(answer.read()))


def run(url: str, lean: bool, case: Callable[[Any], Any], count: bool = True) -> dict[str, Any]:
    fired: list[dict[str, Any]] = []
    hook = EventHook()  # type: ignore[no-untyped-call]
    hook.add_listener(lambda **meta: fired.append(meta))  # type: ignore[no-untyped-call]
    kw: dict[str, Any] = {"network_timeout": TIMEOUT_S, "connection_timeout": TIMEOUT_S}
    session: Any = (
        LeanSession(url, hook, None, **kw)
        if lean
        else FastHttpSession(url, hook, None, max_retries=0, max_redirects=30, **kw)
    )
    before = connections(url) if count else 0
    result = case(session)
    after = connections(url) if count else 0
    out: dict[str, Any] = {
        "result": result,
        "fired": [
            {
                "name": m["name"],
                "status": getattr(m["response"], "status_code", None),
                "exception": type(m["exception"]).__name__ if m["exception"] else None,
                "recorded": list(outcome_of(m["name"], m["exception"], m["response"])),
                "ms": m["response_time"],
                "length": m["response_length"],
            }
            for m in fired
        ],
    }
    if lean:
        out["connects"] = session.connects
    out["server_connections"] = after - before
    return out


def text_of(session: Any, path: str, times: int = 1) -> list[Any]:
    return [(r.status_code, r.text) for r in (session.get(path, name=path) for _ in range(times))]


def caught(session: Any) -> list[Any]:
    seen = []
    with session.get("/status/404", name="404 accepted", catch_response=True) as response:
        seen.append(response.status_code)
        response.success()
    with session.get("/ok", name="ok marked wrong", catch_response=True) as response:
        response.failure("wrong: the basket is empty")
    with session.get("/status/503", name="503 left alone", catch_response=True) as response:
        seen.append(response.text)
    return seen


def posted(session: Any) -> Any:
    response = session.post("/echo", json={"a": 1}, name="POST /echo")
    return [response.status_code, response.json()]


def own_headers(session: Any) -> Any:
    """A request's own User-Agent replaces the client's; one Host."""
    seen = session.get("/headers", headers={"User-Agent": "mine", "X-Tenant": "a"}).json()
    return [seen["user-agent"], seen["x-tenant"], len(seen["host"])]


def answered(response: Any) -> list[Any]:
    return [response.status_code, response.text]


CASES: dict[str, Callable[[Any], Any]] = {
    "redirect_slash": lambda s: text_of(s, "/items", 2),
    "redirect_post_get": lambda s: answered(s.post("/moved", data="x=1", name="POST /moved")),
    "redirect_keeps_post": lambda s: answered(s.post("/keep", json={"a": 1}, name="POST /keep")),
    "redirect_chain": lambda s: text_of(s, "/hop/2"),
    "redirect_loop": lambda s: text_of(s, "/loop") + text_of(s, "/ok"),
    "redirect_500": lambda s: text_of(s, "/to500"),
    "redirect_head": lambda s: answered(s.head("/moved", name="HEAD /moved")),
    "redirect_scheme": lambda s: text_of(s, "/ftp") + text_of(s, "/ok"),
    "redirect_elsewhere": lambda s: answered(s.post("/away", data="x=1", name="POST /away")),
    "ok": lambda s: text_of(s, "/ok", 3),
    "chunked": lambda s: text_of(s, "/chunked", 2),
    "close_after": lambda s: text_of(s, "/close-after", 3),
    "conn_close": lambda s: text_of(s, "/conn-close", 2),
    "status": lambda s: text_of(s, "/status/503") + text_of(s, "/status/404"),
    "degraded": lambda s: [
        (r.status_code, r.json()) for r in [s.get("/degraded", name="GET /degraded")]
    ],
    "caught": caught,
    "post": posted,
    "headers": own_headers,
    "reset": lambda s: text_of(s, "/reset") + text_of(s, "/ok"),
    "half": lambda s: text_of(s, "/half") + text_of(s, "/ok"),
    "timeout": lambda s: text_of(s, "/hang") + text_of(s, "/ok"),
}


def clients(url: str) -> dict[str, str]:
    """Which client each kind of user gets: class name -> its `self.client`'s class name."""
    from locust import FastHttpUser
    from locust.env import Environment

    from scenarios.users.base import TicketedUser
    from scenarios.users.ping import PingUser

    class Theirs(TicketedUser, FastHttpUser):
        abstract = True

    class TheirsLean(Theirs):
        lean_client = True

    class TheirsProxied(TheirsLean):
        proxy_host = "127.0.0.1"

    env = Environment(host=url)
    made = []
    for cls in (PingUser, Theirs, TheirsLean, TheirsProxied):
        cls.host = url  # as the worker sets it (scenarios.load.worker.load_class)
        made.append(cls(env))
    return {type(user).__name__: type(user.client).__name__ for user in made}


def main() -> None:
    url, dead = sys.argv[1], sys.argv[2]
    results: dict[str, Any] = {}
    for name, case in CASES.items():
        results[name] = {"lean": run(url, True, case), "locust": run(url, False, case)}
    refused = lambda s: text_of(s, "/ok")  # noqa: E731
    results["refused"] = {
        "lean": run(dead, True, refused, count=False),
        "locust": run(dead, False, refused, count=False),
    }
    results["clients"] = clients(url)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
