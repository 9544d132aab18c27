"""Outcome kinds beside success and error: a client timeout is `timeout` (also an error, never
a generic or fast failure), an accepted answer that breaks a response rule is `degraded` or
`wrong` (not an error); the counts merge and travel over the wire; old results still load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gevent
import pytest
import requests

from reports.model import SliceBucket
from reports.stats import SliceStats
from scenarios.load.recorder import outcome_of
from scenarios.users.answers import judge, marked, parse_rules, register
from scenarios.users.request_mix import MixError, load_mix

pytestmark = pytest.mark.unit


class CatchResponseError(Exception):
    """Locust's, by name (importing Locust here would monkey-patch the test process)."""


class Response:
    def __init__(
        self,
        status: int = 200,
        headers: dict[str, str] | None = None,
        text: str = "",
        error: BaseException | None = None,
    ) -> None:
        self.status_code, self.headers, self.text, self.error = status, headers or {}, text, error


@pytest.mark.parametrize(
    "client_error",
    [
        gevent.Timeout(1),  # FastHttpUser (geventhttpclient) network_timeout
        TimeoutError("timed out"),
        TimeoutError(),
        requests.exceptions.ReadTimeout("read timed out"),  # HttpUser (requests)
        requests.exceptions.ConnectTimeout("connect timed out"),
    ],
)
def test_a_client_timeout_is_its_own_outcome_whatever_the_task_made_of_it(
    client_error: BaseException,
) -> None:
    response = Response(status=0, error=client_error)
    assert outcome_of("GET /x", client_error, response) == ("timeout", "timeout")
    # a catch_response block that called failure() on it (a mix's "status 0", a user's check)
    caught = CatchResponseError("status 0, expected 2xx/3xx")
    assert outcome_of("GET /x", caught, response) == ("timeout", "timeout")


def test_a_timeout_wrapped_by_the_client_is_a_timeout() -> None:
    from geventhttpclient.useragent import RetriesExceeded

    wrapped = RetriesExceeded("http://x/y", 0, original=TimeoutError("timed out"))
    assert outcome_of("GET /x", wrapped, Response(status=0, error=wrapped)) == (
        "timeout",
        "timeout",
    )
    refused = RetriesExceeded("http://x/y", 0, original=ConnectionRefusedError())
    assert outcome_of("GET /x", refused, Response(status=0, error=refused)) == (
        "RetriesExceeded",
        None,
    )


def test_a_fast_failure_is_an_error_not_a_timeout() -> None:
    refused = ConnectionRefusedError("refused")
    assert outcome_of("GET /x", refused, Response(status=0, error=refused)) == (
        "ConnectionRefusedError",
        None,
    )
    http = RuntimeError("503")
    assert outcome_of("GET /x", http, Response(status=503)) == ("http_503", None)
    assert outcome_of("GET /x", None, Response()) == (None, None)


RULES = parse_rules(
    [
        {"header": "X-Degraded", "then": "degraded"},
        {"json": "*.status", "equals": "degraded", "then": "degraded"},
        {"json": "items.0.id", "present": False, "then": "wrong"},
        {"status": 203, "then": "wrong"},
    ],
    "test",
)


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (Response(text='{"items": [{"id": 1}], "a": {"status": "ok"}}'), None),
        (Response(headers={"x-degraded": "a"}, text='{"items": [{"id": 1}]}'), "degraded"),
        (Response(text='{"items": [{"id": 1}], "a": {"status": "degraded"}}'), "degraded"),
        (Response(headers={"X-Degraded": "a"}, text='{"items": []}'), "wrong"),  # wrong wins
        (Response(text="not json"), "wrong"),  # no items.0.id in it
        (Response(status=203, text='{"items": [{"id": 1}]}'), "wrong"),
    ],
)
def test_response_rules_mark_accepted_answers(response: Response, kind: str | None) -> None:
    assert judge(RULES, response) == kind


def test_rules_registered_by_name_judge_only_accepted_answers() -> None:
    register({"GET /answers-test": parse_rules([{"header": "X-D", "then": "degraded"}], "t")})
    assert outcome_of("GET /answers-test", None, Response(headers={"X-D": "1"})) == (
        None,
        "degraded",
    )
    assert outcome_of("GET /other", None, Response(headers={"X-D": "1"})) == (None, None)
    # a refused status is an error, whatever its answer says
    assert outcome_of("GET /answers-test", RuntimeError(), Response(503, {"X-D": "1"})) == (
        "http_503",
        None,
    )


def test_a_task_marks_an_answer_through_catch_response() -> None:
    assert marked(CatchResponseError("degraded: no trends")) == "degraded"
    assert marked(CatchResponseError("Wrong: empty basket")) == "wrong"
    assert marked(CatchResponseError("status 500")) is None
    assert outcome_of("GET /x", CatchResponseError("wrong: empty"), Response()) == (None, "wrong")


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ({"then": "degraded"}, "exactly one of status, header, json"),
        ({"header": "X", "json": "a", "then": "wrong"}, "exactly one of status, header, json"),
        ({"header": "X", "then": "bad"}, "then"),
        ({"header": "X"}, "then"),
        ({"json": "a", "equals": 1, "not_equals": 2, "then": "wrong"}, "not both"),
        ({"header": "X", "then": "wrong", "color": 1}, "color"),
    ],
)
def test_a_bad_rule_says_what_was_expected(rule: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_rules([rule], "where")


def test_outcome_counts_merge_and_travel_over_the_wire() -> None:
    a, b = SliceStats(3, "GET /x"), SliceStats(3, "GET /x")
    a.record(1000)
    a.record(10_000_000, "timeout", "timeout")
    a.record(2000, None, "degraded")
    b.record(3000, None, "wrong")
    b.record(4000, "http_503")
    a.merge(SliceStats.from_wire(b.to_wire()))
    assert (a.count, a.errors, a.timeouts, a.degraded, a.wrong) == (5, 2, 1, 1, 1)
    assert a.error_kinds == {"timeout": 1, "http_503": 1}
    bucket = a.to_bucket()
    assert (bucket.timeouts, bucket.degraded, bucket.wrong, bucket.errors) == (1, 1, 1, 2)
    with pytest.raises(ValueError, match="unknown outcome"):
        a.record(1, None, "meh")


def test_results_written_before_outcome_kinds_still_load() -> None:
    old = {"slice": 0, "name": "GET /x", "count": 2, "errors": 1, "error_kinds": {"http_500": 1},
           "histogram": SliceStats(0, "x").encoded()}  # fmt: skip
    bucket = SliceBucket.model_validate(old)
    assert (bucket.timeouts, bucket.degraded, bucket.wrong) == (0, 0, 0)
    assert SliceStats.from_wire(old).timeouts == 0


def test_a_mix_declares_answer_rules_next_to_expect(tmp_path: Path) -> None:
    path = tmp_path / "mix.yaml"
    path.write_text(
        "requests:\n"
        "  - path: /dash\n"
        "    expect: [200]\n"
        "    answer:\n"
        "      - {header: X-Degraded, then: degraded}\n"
        "      - {json: total, present: false, then: wrong}\n"
    )
    mix = load_mix(path)
    assert [r.then for r in mix.response_rules["GET /dash"]] == ["degraded", "wrong"]


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("{header: X, then: maybe}", r"mix.yaml:4: requests.0.answer.0.then"),
        ("{then: wrong}", r"mix.yaml:4: requests.0.answer.0: expected exactly one"),
        ("{header: X, then: wrong, colour: 1}", r"mix.yaml:4: .*unknown field \(expected status"),
    ],
)
def test_a_bad_answer_rule_in_a_mix_names_file_and_line(
    tmp_path: Path, rule: str, why: str
) -> None:
    path = tmp_path / "mix.yaml"
    path.write_text(f"requests:\n  - path: /dash\n    answer:\n      - {rule}\n")
    with pytest.raises(MixError, match=why):
        load_mix(path)
