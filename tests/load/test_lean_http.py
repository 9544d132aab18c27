"""The lean keep-alive client (scenarios.users.lean_http) against a real local HTTP/1.1 server,
run where a load worker runs it (a gevent monkey-patched process with Locust imported: the
driver, tests/load/lean_driver.py), each case also through Locust's FastHttpSession: the same
statuses, bodies, and error kinds and outcomes recorded by the worker's hook, on fewer
connections. Small: a few requests, no load."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from chaosgate.processes import free_port
from load.conftest import HERE

pytestmark = pytest.mark.integration
REPO = HERE.parents[1]


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from chaosgate.processes import ManagedProcess, wait_until
    from load.conftest import _listening

    port = free_port()
    log = tmp_path_factory.mktemp("lean") / "server.log"
    server = ManagedProcess(
        "lean-server", [sys.executable, str(HERE / "lean_server.py"), "--port", str(port)], log
    ).start()
    try:
        wait_until(lambda: _listening(port), what="lean server", timeout_s=15)
        done = subprocess.run(
            [sys.executable, str(HERE / "lean_driver.py"), f"http://127.0.0.1:{port}",
             f"http://127.0.0.1:{free_port()}"],
            capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    finally:
        server.stop(5)
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def _recorded(run: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(f["name"], f["status"], *f["recorded"]) for f in run["fired"]]


CASES = ("ok", "chunked", "close_after", "conn_close", "status", "degraded", "caught", "post",
         "headers", "reset", "half", "timeout", "refused", "redirect_slash", "redirect_post_get",
         "redirect_keeps_post", "redirect_chain", "redirect_loop", "redirect_500",
         "redirect_elsewhere", "redirect_head", "redirect_scheme")  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_the_same_answers_and_outcomes_as_locusts_client(case: str, cases: dict[str, Any]) -> None:
    lean, locust = cases[case]["lean"], cases[case]["locust"]
    assert lean["result"] == locust["result"]
    assert _recorded(lean) == _recorded(locust)
    if case != "headers":  # (an echo of the headers each client sends)
        assert [f["length"] for f in lean["fired"]] == [f["length"] for f in locust["fired"]]


def test_status_body_and_keep_alive(cases: dict[str, Any]) -> None:
    ok = cases["ok"]["lean"]
    assert ok["result"] == [[200, "hello"]] * 3
    assert ok["connects"] == 1  # three requests, one kept-alive connection
    assert ok["server_connections"] - 1 == 1  # (- the count request's own)
    assert all(f["ms"] > 0 and f["length"] == 5 for f in ok["fired"])
    assert cases["chunked"]["lean"]["result"] == [[200, "abcdefghij"]] * 2
    assert cases["chunked"]["lean"]["connects"] == 1
    assert cases["headers"]["lean"]["result"] == [["mine"], ["a"], 1]
    post = cases["post"]["lean"]["result"]
    assert post == [201, {"body": '{"a": 1}', "type": "application/json"}]


def test_a_closed_connection_is_replaced_not_an_error(cases: dict[str, Any]) -> None:
    for case in ("close_after", "conn_close"):
        run = cases[case]["lean"]
        assert all(status == 200 for status, _ in run["result"]), run
        assert run["connects"] == len(run["result"]), run  # a new connection each time
        assert all(f["recorded"] == [None, None] for f in run["fired"])


def test_every_outcome_kind_is_recorded(cases: dict[str, Any]) -> None:
    def kinds(case: str) -> list[tuple[Any, ...]]:
        return _recorded(cases[case]["lean"])

    assert kinds("status") == [("/status/503", 503, "http_503", None),
                               ("/status/404", 404, "http_404", None)]  # fmt: skip
    assert kinds("degraded") == [("GET /degraded", 200, None, "degraded")]
    assert kinds("caught") == [
        ("404 accepted", 404, None, None),
        ("ok marked wrong", 200, None, "wrong"),
        ("503 left alone", 503, "http_503", None),
    ]
    assert kinds("reset")[0] == ("/reset", 0, "HTTPConnectionClosed", None)
    assert kinds("half")[0] == ("/half", 200, "http_200", None)  # a body cut short
    assert kinds("timeout")[0] == ("/hang", 0, "timeout", "timeout")
    assert kinds("refused") == [("/ok", 0, "ConnectionRefusedError", None)]
    for case in ("reset", "half", "timeout"):  # the next request on a new connection
        assert kinds(case)[1] == ("/ok", 200, None, None), case


def test_redirects_are_followed_to_the_page_behind_them(cases: dict[str, Any]) -> None:
    def lean(case: str) -> Any:
        return cases[case]["lean"]

    assert lean("redirect_slash")["result"] == [[200, "items"]] * 2
    assert lean("redirect_slash")["connects"] == 1  # each hop on the kept-alive socket
    moved = json.loads(lean("redirect_post_get")["result"][1])
    assert moved == {"method": "GET", "body": ""}  # 302 after a POST: a GET, no body
    kept = json.loads(lean("redirect_keeps_post")["result"][1])
    assert kept == {"method": "POST", "body": '{"a": 1}'}  # 308: the method and body kept
    assert lean("redirect_chain")["result"] == [[200, "landed"]]
    assert _recorded(lean("redirect_loop")) == [
        ("/loop", 0, "RetriesExceeded", None),
        ("/ok", 200, None, None),
    ]
    away = json.loads(lean("redirect_elsewhere")["result"][1])
    assert away == {"method": "POST", "body": "x=1"}  # another origin: Locust's client, once
    assert _recorded(lean("redirect_500")) == [("/to500", 500, "http_500", None)]
    assert [len(_recorded(lean(c))) for c in ("redirect_slash", "redirect_chain")] == [2, 1]


def test_the_answer_is_there_for_the_checks(cases: dict[str, Any]) -> None:
    assert cases["degraded"]["lean"]["result"] == [[200, {"part": {"status": "degraded"}}]]
    assert cases["caught"]["lean"]["result"] == [404, "status"]
    assert cases["half"]["lean"]["result"][0] == [200, "abc"]  # what came before the cut


def test_shipped_users_send_through_it_a_users_own_class_when_it_asks(
    cases: dict[str, Any],
) -> None:
    assert cases["clients"] == {
        "PingUser": "LeanSession",
        "Theirs": "FastHttpSession",  # cookies, redirects: Locust's client unless it opts in
        "TheirsLean": "LeanSession",
        "TheirsProxied": "FastHttpSession",  # what the lean client does not do
    }
