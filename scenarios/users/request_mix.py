"""A declarative request mix (`load.users: [mix.yaml]`) for people who write no Python.

    requests:
      - name: GET /items/{id}            # default "METHOD path" (the template as written)
        method: GET                      # GET POST PUT PATCH DELETE HEAD OPTIONS
        path: /items/{{ random_int(1, 1000) }}
        weight: 3                        # default 1
        expect: [200, 404]               # default: any 2xx/3xx
        headers: {X-Tenant: demo}
        json: {name: "item-{{ random_int(1, 1000000) }}"}
        capture: {item_id: id}           # from the JSON response (dotted path allowed)
        answer:                          # response rules: an accepted answer that matches one
          - {json: id, present: false, then: wrong}          # is `wrong` or `degraded`
          - {header: X-Degraded, then: degraded}             # (scenarios.users.answers)

    setup:                               # optional: log in before the scored requests
      once: per_worker                   # or per_user (default): who logs in
      rerun_on: [401]                    # a scored request answered so: set-up again (bounded)
      max_reruns: 5
      requests:
        - {method: POST, path: /login, form: {username: "{{ env(GATE_USER) }}", password: x},
           capture: {token: access_token, csrf: "header:X-CSRF-Token"}}

Templates are `{{ random_int(a, b) }}`, `{{ random_choice(x, y, z) }}`, `{{ env(NAME) }}` (an
environment variable, which must be set) and `{{ <captured> }}` (from any capture, set-up's too),
parsed here once (no eval). A request naming a captured value is skipped until this user has
captured it. This module imports no Locust: the harness validates a mix and reads its request
names; the load worker builds the Locust user from it (scenarios.users.custom).
"""

from __future__ import annotations

import functools
import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from chaosgate.errors import InputError
from chaosgate.inputfile import read_yaml
from chaosgate.numbers import reject_bool_number
from scenarios.users.answers import ResponseRule

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}")
_CALL = re.compile(rf"^\s*({_IDENT})\s*\((.*)\)\s*$", re.DOTALL)
_NAME = re.compile(rf"^\s*({_IDENT})\s*$")


class MixError(ValueError):
    """A problem in a mix file; the message names file:line and what was expected."""


# -- templates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RandomInt:
    low: int
    high: int

    def value(self, rng: random.Random, captured: Mapping[str, Any]) -> Any:
        return rng.randint(self.low, self.high)


@dataclass(frozen=True)
class RandomChoice:
    options: tuple[str, ...]

    def value(self, rng: random.Random, captured: Mapping[str, Any]) -> Any:
        return rng.choice(self.options)


@dataclass(frozen=True)
class Captured:
    name: str

    def value(self, rng: random.Random, captured: Mapping[str, Any]) -> Any:
        return captured[self.name]


@dataclass(frozen=True)
class EnvVar:
    name: str

    def value(self, rng: random.Random, captured: Mapping[str, Any]) -> Any:
        return os.environ.get(self.name, "")


Expression = RandomInt | RandomChoice | Captured | EnvVar


def _int(text: str, expression: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{{{{ {expression} }}}}: {text.strip()!r} is not an integer") from None


def parse_expression(text: str) -> Expression:
    """One `{{ ... }}` body. Raises ValueError saying what is accepted."""
    expression = text.strip()
    if (name := _NAME.match(text)) is not None:
        if name.group(1) in ("random_int", "random_choice", "env"):
            raise ValueError(f"{{{{ {expression} }}}}: {name.group(1)} needs arguments")
        return Captured(name.group(1))
    call = _CALL.match(text)
    if call is None:
        raise ValueError(
            f"{{{{ {expression} }}}} is not a template: expected {{{{ random_int(a, b) }}}}, "
            "{{ random_choice(x, y, ...) }}, {{ env(NAME) }} or {{ <captured name> }}"
        )
    function, arguments = call.group(1), [a.strip() for a in call.group(2).split(",")]
    if function == "random_int":
        if len(arguments) != 2:
            raise ValueError(f"{{{{ {expression} }}}}: random_int takes two integers (a, b)")
        low, high = (_int(a, expression) for a in arguments)
        if low > high:
            raise ValueError(f"{{{{ {expression} }}}}: random_int needs a <= b")
        return RandomInt(low, high)
    if function == "random_choice":
        options = tuple(a.strip("'\"") for a in arguments)
        if not all(options):
            raise ValueError(f"{{{{ {expression} }}}}: random_choice takes non-empty values")
        return RandomChoice(options)
    if function == "env":
        if len(arguments) != 1 or not re.fullmatch(_IDENT, arguments[0].strip("'\"")):
            raise ValueError(f"{{{{ {expression} }}}}: env takes one variable name")
        return EnvVar(arguments[0].strip("'\""))
    raise ValueError(
        f"{{{{ {expression} }}}}: unknown function {function!r} "
        "(expected random_int(a, b), random_choice(x, y, ...) or env(NAME))"
    )


@dataclass(frozen=True)
class Template:
    """Text with `{{ }}` holes: literal parts and expressions, alternating."""

    parts: tuple[str | Expression, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        parts: list[str | Expression] = []
        position = 0
        for match in _TEMPLATE.finditer(text):
            parts.append(text[position : match.start()])
            parts.append(parse_expression(match.group(1)))
            position = match.end()
        rest = text[position:]
        if "{{" in rest or "}}" in rest:
            raise ValueError(f"unbalanced {{{{ }}}} in {text!r}")
        parts.append(rest)
        return cls(tuple(p for p in parts if p != ""))

    @property
    def captures(self) -> set[str]:
        return {p.name for p in self.parts if isinstance(p, Captured)}

    @property
    def env_names(self) -> set[str]:
        return {p.name for p in self.parts if isinstance(p, EnvVar)}

    def render(self, rng: random.Random, captured: Mapping[str, Any]) -> Any:
        """The text; a template that is one expression alone keeps its value's type (an int)."""
        if len(self.parts) == 1 and not isinstance(self.parts[0], str):
            return self.parts[0].value(rng, captured)
        return "".join(p if isinstance(p, str) else str(p.value(rng, captured)) for p in self.parts)


def _templates(value: Any) -> Any:
    """Parse every string of a JSON body / header value into a Template (recursively)."""
    if isinstance(value, str):
        return Template.parse(value)
    if isinstance(value, dict):
        return {str(k): _templates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_templates(v) for v in value]
    return value


def render_value(value: Any, rng: random.Random, captured: Mapping[str, Any]) -> Any:
    if isinstance(value, Template):
        return value.render(rng, captured)
    if isinstance(value, dict):
        return {k: render_value(v, rng, captured) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, rng, captured) for v in value]
    return value


def _captures_in(value: Any) -> set[str]:
    if isinstance(value, Template):
        return value.captures
    if isinstance(value, dict):
        return set().union(*(_captures_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_captures_in(v) for v in value))
    return set()


# -- the file ----------------------------------------------------------------------------------


class MixRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = Field(None, min_length=1)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    path: str
    weight: float = Field(1.0, gt=0, le=1_000_000)
    expect: list[int] | None = Field(None, min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json")
    capture: dict[str, str] = Field(default_factory=dict)
    answer: list[ResponseRule] = Field(default_factory=list)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return reject_bool_number(cls, value, info)  # `weight: true` is not a weight of 1

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        literal = _TEMPLATE.sub("", path)  # spaces inside {{ }} are fine
        if not path.startswith("/") or any(c.isspace() for c in literal):
            raise ValueError(
                f"expected a path on the target starting with / and without spaces, got {path!r}"
            )
        Template.parse(path)
        return path

    @field_validator("expect")
    @classmethod
    def _statuses(cls, statuses: list[int] | None) -> list[int] | None:
        for status in statuses or []:
            if not 100 <= status <= 599:
                raise ValueError(f"expected HTTP statuses 100-599, got {status}")
        return statuses

    @field_validator("capture")
    @classmethod
    def _capture_names(cls, capture: dict[str, str]) -> dict[str, str]:
        for name, path in capture.items():
            if not re.fullmatch(_IDENT, name):
                raise ValueError(f"capture names are identifiers (letters, digits, _): {name!r}")
            if not path or any(not part for part in path.split(".")):
                raise ValueError(
                    f"capture {name}: expected a JSON key or dotted path, got {path!r}"
                )
        return capture

    @field_validator("headers", "json_body")
    @classmethod
    def _parse_templates(cls, value: Any) -> Any:
        _templates(value)  # raises ValueError naming the bad template
        return value


class SetupRequest(MixRequest):
    """A set-up request: a mix request that may send a form (`form:`, url-encoded) and capture
    a response header (`capture: {csrf: "header:X-CSRF-Token"}`)."""

    form: dict[str, str] | None = None

    @field_validator("form")
    @classmethod
    def _form_templates(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        _templates(value or {})
        return value


class MixSetup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    once: Literal["per_user", "per_worker"] = "per_user"
    rerun_on: list[int] = Field(default_factory=lambda: [401])
    max_reruns: int = Field(5, ge=0, le=10_000)
    requests: list[SetupRequest] = Field(min_length=1)


class MixFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: list[MixRequest] = Field(min_length=1)
    setup: MixSetup | None = None


@dataclass(frozen=True)
class Request:
    """One request of a mix, templates parsed."""

    name: str
    method: str
    path: Template
    weight: float
    expect: frozenset[int] | None
    headers: dict[str, Any]
    json_body: Any
    capture: dict[str, str]
    needs: frozenset[str]  # captured values it uses: skipped until this user has them
    answer: tuple[ResponseRule, ...] = ()  # response rules: degraded / wrong answers

    def accepts(self, status: int) -> bool:
        return status in self.expect if self.expect is not None else 200 <= status < 400


@dataclass(frozen=True)
class SetupStep:
    request: Request
    form: dict[str, Any] | None  # url-encoded body, templates parsed


@dataclass(frozen=True)
class Setup:
    """Run before a user's first scored request, once per user or once per load worker (shared
    by its users: 60 slow logins at once can outlast the request timeout); again when a scored
    request gets a `rerun_on` status, at most `max_reruns` times."""

    once: Literal["per_user", "per_worker"]
    rerun_on: frozenset[int]
    max_reruns: int
    steps: tuple[SetupStep, ...]


@dataclass(frozen=True)
class Mix:
    path: Path
    requests: tuple[Request, ...]
    setup: Setup | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.name for r in self.requests))

    @property
    def response_rules(self) -> dict[str, tuple[ResponseRule, ...]]:
        """Request name -> its `answer:` rules (for the worker's registry)."""
        rules: dict[str, tuple[ResponseRule, ...]] = {}
        for request in self.requests:
            if request.answer:
                rules[request.name] = rules.get(request.name, ()) + request.answer
        return rules


def _line(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
            child = found[0] if found else None
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if 0 <= part < len(node.value) else None
        else:
            child = None
        if child is None:
            break
        node = child
    return node.start_mark.line + 1 if node is not None else 1


def _describe(error: ValidationError, source: str, root: yaml.Node | None) -> str:
    lines = []
    for item in error.errors():
        loc = tuple(p for p in item["loc"] if isinstance(p, int | str))
        loc = tuple("json" if p == "json_body" else p for p in loc)
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "required field missing"
        elif item["type"] == "extra_forbidden" and "answer" in loc:
            message = (
                "unknown field (expected status, header, json, equals, not_equals, present, then)"
            )
        elif item["type"] == "extra_forbidden" and loc[:1] == ("setup",) and len(loc) == 2:
            message = "unknown field (expected once, rerun_on, max_reruns, requests)"
        elif item["type"] == "extra_forbidden":
            message = (
                "unknown field (expected name, method, path, weight, expect, headers, json, "
                f"{'form, ' if loc[:1] == ('setup',) else ''}capture, answer)"
            )
        elif item["type"] == "literal_error":
            message = f"expected one of {', '.join(METHODS)}, got {item.get('input')!r}"
        key = ".".join(str(p) for p in loc) or "(top level)"
        lines.append(f"{source}:{_line(root, loc)}: {key}: {message}")
    return "; ".join(lines)


def _request(item: MixRequest) -> Request:
    template = Template.parse(item.path)
    headers = {k: _templates(v) for k, v in item.headers.items()}
    body = _templates(item.json_body) if item.json_body is not None else None
    return Request(
        name=item.name or f"{item.method} {item.path}",
        method=item.method,
        path=template,
        weight=item.weight,
        expect=frozenset(item.expect) if item.expect is not None else None,
        headers=headers,
        json_body=body,
        capture=dict(item.capture),
        needs=frozenset(template.captures | _captures_in(headers) | _captures_in(body)),
        answer=tuple(item.answer),
    )


def _env_names(value: Any) -> set[str]:
    if isinstance(value, Template):
        return value.env_names
    if isinstance(value, dict):
        return set().union(*(_env_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_env_names(v) for v in value))
    return set()


def _check_env(request: Request, form: Any, path: Path, line: int, where: str) -> None:
    """`{{ env(NAME) }}` unset is bad input now, not 401s for the whole run."""
    used = _env_names([request.path, request.headers, request.json_body, form])
    unset = sorted(name for name in used if name not in os.environ)
    if unset:
        raise MixError(
            f"{path}:{line}: {where}: uses the environment variable(s) {', '.join(unset)}, which is "
            "not set (expected it exported before the run: a password or token stays out of the "
            "file)"
        )


def _build_setup(spec: MixSetup, path: Path, root: yaml.Node | None) -> Setup:
    steps: list[SetupStep] = []
    made: set[str] = set()
    for index, item in enumerate(spec.requests):
        request = _request(item)
        form = {k: _templates(v) for k, v in item.form.items()} if item.form else None
        where = f"setup.requests.{index}"
        line = _line(root, ("setup", "requests", index))
        if item.form and item.json_body is not None:
            raise MixError(f"{path}:{line}: {where}: expected json: or form:, not both")
        missing = sorted((request.needs | _captures_in(form)) - made)
        if missing:
            raise MixError(
                f"{path}:{line}: {where}: uses {', '.join(missing)}, which no earlier set-up "
                "request captures (set-up requests run in order)"
            )
        _check_env(request, form, path, line, where)
        steps.append(SetupStep(request, form))
        made |= set(item.capture)
    for status in spec.rerun_on:
        if not 100 <= status <= 599:
            line = _line(root, ("setup", "rerun_on"))
            raise MixError(f"{path}:{line}: setup.rerun_on: expected HTTP statuses, got {status}")
    return Setup(spec.once, frozenset(spec.rerun_on), spec.max_reruns, tuple(steps))


def _build(spec: MixFile, path: Path, root: yaml.Node | None) -> Mix:
    setup = _build_setup(spec.setup, path, root) if spec.setup is not None else None
    from_setup = {n for step in setup.steps for n in step.request.capture} if setup else set()
    requests = []
    for index, item in enumerate(spec.requests):
        requests.append(_request(item))
        needs = requests[-1].needs
        _check_env(requests[-1], None, path, _line(root, ("requests", index)), f"requests.{index}")
        needs = needs - from_setup  # set-up runs first: its captures are there from the start
        made = {name for other in spec.requests for name in other.capture}
        missing = sorted(needs - made)
        if missing:
            line = _line(root, ("requests", index))
            raise MixError(
                f"{path}:{line}: requests.{index}: uses {', '.join(missing)}, which no request "
                f"captures (expected a name from some request's capture:, or random_int/"
                "random_choice)"
            )
    if all(r.needs - from_setup for r in requests):
        raise MixError(
            f"{path}:{_line(root, ('requests',))}: requests: every request needs a captured value, "
            "so none can start (expected at least one request without {{ <captured> }})"
        )
    return Mix(path, tuple(requests), setup)


@functools.cache
def _load(path: Path, mtime_ns: int) -> Mix:
    try:  # a regular file, size-limited, UTF-8 (a FIFO or /dev/zero: an error, not a hang)
        data, root = read_yaml(path, "request mix")
    except InputError as error:
        raise MixError(str(error)) from None
    if not isinstance(data, dict):
        raise MixError(f"{path}:1: expected a mapping with requests: [...] at the top level")
    try:
        spec = MixFile.model_validate(data)
    except ValidationError as error:
        raise MixError(_describe(error, str(path), root)) from None
    return _build(spec, path, root)


def load_mix(path: Path) -> Mix:
    """Parse and check a mix file; raises MixError naming file:line."""
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise MixError(f"{path}: request mix file not found") from None
    except OSError as error:  # a symlink loop, a path through a file
        raise MixError(f"{path}: cannot read the request mix: {error.strerror}") from None
    return _load(path, mtime)
