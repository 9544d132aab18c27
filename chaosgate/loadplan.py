"""The load plan's shape: what rate, how the schedule is drawn, its limits. Validated before
anything runs. The kernel's, so the deploy renderers (fixtures/deploy) read a plan without
importing the harness above them; `scenarios.load.plan.LoadPlan` adds what needs the users
package (each user name resolved: a shipped one, a locustfile class or a request mix).

A bad value raises `ScenarioError` (an InputError, exit 2) naming the field, e.g.
`load plan: rate.0.hold_s: not a duration: 'soon' (expected e.g. 30s, 1m30s, 500ms, 2.5)`.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic._internal._model_construction import ModelMetaclass

from chaosgate.errors import ScenarioError
from chaosgate.numbers import reject_bool_number

_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?!s))?\s*(?:(\d+(?:\.\d+)?)s)?\s*(?:(\d+(?:\.\d+)?)ms)?\s*$"
)


MAX_DURATION_S = 7 * 86_400  # a week: longer is a typo, and timers overflow past ~1e9 s
MAX_RPS = 100_000  # the loopback ceiling on this class of machine (wrk -> nginx): beyond, a typo
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1  # the worker plan carries it as a 64-bit integer


class LocatedValueError(ValueError):
    """A problem found by a whole-model check that belongs to one field (e.g. kpis.2):
    the loader appends `path` to pydantic's location to point at its line."""

    def __init__(self, message: str, path: tuple[int | str, ...]) -> None:
        super().__init__(message)
        self.path = path


def parse_duration(value: Any) -> float:
    """Seconds from 30, 2.5, "30s", "1m30s", "500ms", "1h". Raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            match = _DURATION.match(text)
            if not match or not any(match.groups()):
                raise ValueError(
                    f"not a duration: {value!r} (expected e.g. 30s, 1m30s, 500ms, 2.5)"
                ) from None
            h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
            seconds = h * 3600 + m * 60 + s + ms / 1000
    else:
        raise ValueError(f"not a duration: {value!r} (expected e.g. 30s, 1m30s, 500ms, 2.5)")
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_DURATION_S:
        raise ValueError(f"a duration must be finite, 0 to {MAX_DURATION_S} s, got {value!r}")
    return seconds


class _CheckedMeta(ModelMetaclass):
    # Direct construction only (nested models are built by pydantic-core, not by this call),
    # so a nested error keeps its full path, e.g. rate.0.hold_s.
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as error:
            raise ScenarioError(_describe(error, cls.__name__)) from None


class _Checked(BaseModel, metaclass=_CheckedMeta):
    """Constructing one with bad values raises ScenarioError naming the field, never a traceback."""

    # .inf / .nan validate as floats: a rate of .inf reached the worker as null and ran anyway.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return reject_bool_number(cls, value, info)  # `ramp_to_rps: true` is not 1 rps


def _describe(error: ValidationError, model: str) -> str:
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, LocatedValueError):
            loc = (*loc, *cause.path)
        key = ".".join(str(part) for part in loc) or "(root)"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"load plan: {key}: {message}")
    return "\n".join(lines) or f"load plan: invalid {model}"


class RateStep(_Checked):
    """One step of the rate profile: a linear ramp, a hold, or a jump to `rps` and hold."""

    ramp_to_rps: float | None = Field(
        None, gt=0, le=MAX_RPS, description="ramp linearly to this rate..."
    )
    over_s: float | None = Field(None, description="...over this long")
    rps: float | None = Field(
        None, gt=0, le=MAX_RPS, description="jump to this rate (then hold for hold_s)"
    )
    hold_s: float | None = Field(None, description="keep the current rate this long")

    @field_validator("over_s", "hold_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _shape(self) -> RateStep:
        ramp = self.ramp_to_rps is not None or self.over_s is not None
        if ramp and (self.ramp_to_rps is None or self.over_s is None):
            raise ValueError("a ramp needs both ramp_to_rps and over_s")
        if ramp and (self.rps is not None or self.hold_s is not None):
            raise ValueError(
                "a step is either a ramp (ramp_to_rps, over_s) or a hold (rps, hold_s)"
            )
        if not ramp and self.hold_s is None:
            raise ValueError("a step needs ramp_to_rps + over_s, or hold_s (optionally with rps)")
        return self

    @property
    def duration_s(self) -> float:
        return float(self.over_s if self.over_s is not None else self.hold_s or 0.0)


class PlanShape(_Checked):
    """A load plan, its user names unresolved (`scenarios.load.plan.LoadPlan` resolves them)."""

    users: list[str] = Field(min_length=1, description="user class names, see scenarios.users")
    rate: list[RateStep] = Field(min_length=1)
    arrival: Literal["constant", "poisson"] = "poisson"
    seed: int = Field(0, ge=SEED_MIN, le=SEED_MAX)
    workers: int = Field(1, ge=1, le=64, description="1: one local process; N: master + N")
    concurrency: int | None = Field(
        None, ge=1, le=20_000, description="HTTP users (open slots); default: one second of peak"
    )
    tolerance_ms: float = Field(
        20.0, gt=0, le=10_000, description="a send later than this counts as late"
    )
    late_fraction_max: float = Field(
        0.01, ge=0, le=1, description="more late sends (and more than 2): invalid"
    )
    cpu_limit_percent: float = Field(
        95.0, gt=0, le=10_000, description="median worker CPU above: invalid"
    )
    drain_s: float = Field(5.0, ge=0, description="wait for in-flight requests after the schedule")
    request_timeout_s: float = Field(10.0, gt=0)
    stop_drain_s: float | None = Field(
        None,
        ge=0,
        description="on stop/abort, wait this long for requests in flight before recording "
        "them as errors (stopped_in_flight); default: request_timeout_s",
    )
    warmup_s: float = Field(
        0.0,
        ge=0,
        description="warm-up before the rate profile, not judged: the rate ramps from 0 to the "
        "profile's first rate; scenario second 0 (windows, fault at_s) is its end",
    )
    setup_concurrency: int = Field(
        8,
        ge=1,
        le=1000,
        description="user set-up calls in flight at once per worker (under the SUT's shed "
        "limit: the reference SUT's pool is 10 connections + 20 waiting)",
    )
    host_busy_percent: float = Field(
        25.0,
        gt=0,
        le=10_000,
        description="CPU of other processes (% of one core, averaged over a judged window) "
        "above which a KPI failed there makes the scenario INVALID (host busy), not FAIL",
    )
    websocket_clients: int = Field(0, ge=0, le=100_000)
    websocket_rps: float = Field(
        0.0, ge=0, le=MAX_RPS, description="messages/s over all WebSocket clients"
    )

    @field_validator("drain_s", "request_timeout_s", "stop_drain_s", "warmup_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.duration_s <= 0:
            raise LocatedValueError(
                "the rate profile lasts 0 s: give a hold_s or over_s > 0", ("rate",)
            )
        if self.duration_s > MAX_DURATION_S:
            raise LocatedValueError(
                f"the rate profile lasts {self.duration_s:g} s, more than {MAX_DURATION_S} s",
                ("rate",),
            )
        if self.rate[0].ramp_to_rps is None and self.rate[0].rps is None:
            raise LocatedValueError(
                "the first step must set a rate (rps or ramp_to_rps)", ("rate", 0)
            )
        if "websocket" in self.users and (self.websocket_clients < 1 or self.websocket_rps <= 0):
            raise LocatedValueError(
                "the websocket user needs websocket_clients >= 1 and websocket_rps > 0",
                ("websocket_clients",),
            )
        return self

    @property
    def duration_s(self) -> float:
        return sum(step.duration_s for step in self.rate)

    @property
    def total_s(self) -> float:
        """The schedule's length: the warm-up, then the rate profile."""
        return self.warmup_s + self.duration_s

    @property
    def stop_drain(self) -> float:
        """Seconds a stopped worker waits for its requests in flight (bounded by the timeout)."""
        if self.stop_drain_s is None:
            return self.request_timeout_s
        return min(self.stop_drain_s, self.request_timeout_s)

    @property
    def peak_rps(self) -> float:
        return max((s.ramp_to_rps or s.rps or 0.0) for s in self.rate)

    @property
    def http_users(self) -> list[str]:
        return [name for name in self.users if name != "websocket"]

    @property
    def slots(self) -> int:
        """HTTP users to spawn: enough to keep one second of peak rate in flight."""
        if not self.http_users:
            return 0
        return self.concurrency or max(10, min(2000, math.ceil(self.peak_rps)))
