"""Response rules: what an accepted answer must carry, per request name.

A status alone says nothing about the answer: a dashboard part that missed its deadline is a
200 with `{"status": "degraded"}`. A rule marks such an answer `degraded` (the service kept
answering but left something out, by design) or `wrong` (the answer breaks its contract);
both are outcome kinds counted beside errors (`degraded_rate(name)`, `wrong_rate(name)`), not
errors. Only answers the load accepted (2xx/3xx, or a mix's `expect`) are judged: a refused
status or a timeout is already an error. `wrong` wins over `degraded` when both match.

One rule, as YAML (a mix's `answer:` list) or a dict (a Locust class's `response_rules`):

    {header: X-Dashboard-Degraded, then: degraded}            # the header is present
    {header: X-Cache, equals: MISS, then: degraded}           # ... and has this value
    {json: items.0.id, present: false, then: wrong}           # dotted path (* = any element)
    {json: "*.status", equals: degraded, then: degraded}
    {json: total, not_equals: 0, then: wrong}
    {status: [203, 204], then: wrong}

A user's own Locust class can also mark an answer in its `catch_response` block:
`response.failure("degraded: <why>")` or `"wrong: <why>"` counts as that kind, not an error.

The rules of every loaded user class are kept in one registry by request name (`register`),
which the load worker's request hook reads (`judge_answer`). This module imports no Locust.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

AnswerKind = Literal["degraded", "wrong"]
ANSWER_PREFIXES: tuple[AnswerKind, ...] = ("degraded", "wrong")
_MISSING = object()


class ResponseRule(BaseModel):
    """When this rule matches an accepted answer, the answer is `then`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: list[int] | None = None
    header: str | None = Field(None, min_length=1)
    json_path: str | None = Field(None, alias="json", min_length=1)
    equals: Any = None  # only when given (`has`): `equals: null` is a value too
    not_equals: Any = None
    present: bool = True
    then: AnswerKind

    @model_validator(mode="before")
    @classmethod
    def _one_status(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("status"), int):
            return {**data, "status": [data["status"]]}
        return data

    @model_validator(mode="after")
    def _one_subject(self) -> ResponseRule:
        subjects = [s for s in (self.status, self.header, self.json_path) if s is not None]
        if len(subjects) != 1:
            raise ValueError("expected exactly one of status, header, json")
        if self.status is not None and (self.has("equals") or self.has("not_equals")):
            raise ValueError("a status rule takes no equals/not_equals (list the statuses)")
        if self.has("equals") and self.has("not_equals"):
            raise ValueError("expected equals or not_equals, not both")
        return self

    def has(self, field: str) -> bool:
        return field in self.model_fields_set

    def matches(self, status: int, headers: Mapping[str, str], body: Any) -> bool:
        if self.status is not None:
            return status in self.status
        if self.header is not None:
            found = {k.lower(): v for k, v in headers.items()}.get(self.header.lower(), _MISSING)
            return self._compare([found] if found is not _MISSING else [])
        assert self.json_path is not None
        return self._compare(list(_dig_all(body, self.json_path.split("."))))

    def _compare(self, found: list[Any]) -> bool:
        if self.has("equals"):
            return any(_same(value, self.equals) for value in found)
        if self.has("not_equals"):
            return any(not _same(value, self.not_equals) for value in found)
        return bool(found) == self.present


def _same(found: Any, expected: Any) -> bool:
    # a header is text: `equals: 1` matches "1"
    return found == expected or (isinstance(found, str) and found == str(expected))


def _dig_all(value: Any, keys: list[str]) -> Iterable[Any]:
    """Every value at the dotted path; `*` walks every element of a list or mapping."""
    if not keys:
        yield value
        return
    key, rest = keys[0], keys[1:]
    if key == "*":
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            for child in children:
                yield from _dig_all(child, rest)
    elif isinstance(value, dict) and key in value:
        yield from _dig_all(value[key], rest)
    elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
        yield from _dig_all(value[int(key)], rest)


def parse_rules(raw: Any, where: str) -> tuple[ResponseRule, ...]:
    """A list of rule dicts; raises ValueError naming `where` and what was expected."""
    if not isinstance(raw, list | tuple):
        raise ValueError(f"{where}: expected a list of response rules, got {type(raw).__name__}")
    rules = []
    for index, item in enumerate(raw):
        try:
            rules.append(ResponseRule.model_validate(item))
        except ValidationError as error:
            why = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: "
                f"{str(e['msg']).removeprefix('Value error, ')}"
                for e in error.errors()
            )
            raise ValueError(f"{where}[{index}]: {why}") from None
    return tuple(rules)


def parse_named_rules(raw: Any, where: str) -> dict[str, tuple[ResponseRule, ...]]:
    """`{request name: [rule, ...]}` (a Locust class's `response_rules`)."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping of request name -> list of rules")
    return {str(name): parse_rules(rules, f"{where}[{name!r}]") for name, rules in raw.items()}


# -- the worker's registry ---------------------------------------------------------------------
_RULES: dict[str, tuple[ResponseRule, ...]] = {}


def register(rules: Mapping[str, Iterable[ResponseRule]]) -> None:
    """Add rules by request name (a class's rules, registered once per process)."""
    for name, more in rules.items():
        known = _RULES.get(name, ())
        _RULES[name] = known + tuple(r for r in more if r not in known)


def rules_for(name: str) -> tuple[ResponseRule, ...]:
    return _RULES.get(name, ())


def _body(response: Any) -> Any:
    text = getattr(response, "text", None)
    if not text:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None  # not JSON: a json rule finds nothing there


def judge(rules: Iterable[ResponseRule], response: Any) -> AnswerKind | None:
    """The kind an accepted answer is marked (None: a plain success)."""
    rules = tuple(rules)
    if not rules or response is None:
        return None
    status = int(getattr(response, "status_code", 0) or 0)
    headers = getattr(response, "headers", None) or {}
    body: Any = _MISSING
    found: set[str] = set()
    for rule in rules:
        if rule.then in found:
            continue
        if rule.json_path is not None and body is _MISSING:
            body = _body(response)
        if rule.matches(status, headers, None if body is _MISSING else body):
            found.add(rule.then)
    return "wrong" if "wrong" in found else "degraded" if found else None


def judge_answer(name: str, response: Any) -> AnswerKind | None:
    return judge(rules_for(name), response)


def marked(exception: BaseException | None) -> AnswerKind | None:
    """A task's own mark through catch_response: `response.failure("degraded: ...")`."""
    if exception is None or type(exception).__name__ != "CatchResponseError":
        return None
    text = str(exception).strip().lower()
    for kind in ANSWER_PREFIXES:
        if text.startswith(f"{kind}:") or text == kind:
            return kind
    return None
