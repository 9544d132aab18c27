"""The scenario model: YAML files and Python scenarios both become a validated `Scenario`.

    name, description, tags (release | smoke | ...), seed
    target:  the service under test: a target file (fixtures.target; a path relative to the
             scenario file) or the same mapping inline; none: the reference stack
    stack:   requires (services), sut_overrides (dotted SUT config keys: a weakened run)
    load:    a `scenarios.load.LoadPlan` (users, rate profile, arrival, websocket clients...)
    faults:  a schedule of [{name, at_s, for_s, target, fault, attributes}], in order, not
             overlapping; `fault: flapping` with attributes {fault, fault_attributes, on_s, off_s}
    kpis:    expressions (see reports.kpi_parse), or {expression, abort, grace_s}
    steady_state: expressions that define "healthy" for recovery (default: the baseline KPIs)

Windows follow the schedule: `baseline` is [0, first fault), `fault:<name>` is [at, at+for),
`recovery:<name>` runs from the fault's removal to the next fault (or the end of the load).
Second 0 is the end of the load's warm-up (`load.warmup_s`): the warm-up is in no window, and
a scenario without one keeps the meaning it had (second 0 = the load's first second).
Everything is validated at construction, so a file is checked whole before anything starts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chaosgate.errors import ExpressionError
from chaosgate.numbers import reject_bool_number
from fixtures.faults import REGISTRY, Fault, build_fault
from fixtures.stack import DEPENDENCIES, PROXIES, SUT_PROCESSES
from reports.kpi_parse import Kpi, parse_kpi
from reports.model import Phase
from reports.windows import fault_window, is_recovery_of_one, recovery_window
from scenarios.load.plan import SEED_MAX, SEED_MIN, LoadPlan, parse_duration
from scenarios.load.plan import LocatedValueError as LocatedValueError  # the loader's import
from scenarios.probes import PROBE_SERIES
from scenarios.users import request_names

if TYPE_CHECKING:
    from fixtures.target import ExternalTarget

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
MAX_NAME = 128
SERVICES = (*DEPENDENCIES, "toxiproxy", *SUT_PROCESSES)
Scalar = str | int | float | bool


class _Model(BaseModel):
    # .inf / .nan are floats to pydantic; no duration, rate or grace may be one.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return reject_bool_number(cls, value, info)  # `grace_s: true` is not 1 s


class FaultStep(_Model):
    """One scheduled fault. `at_s` counts from second 0: the end of the load's warm-up."""

    name: str = Field(
        pattern=NAME, max_length=MAX_NAME, description="used in windows and KPIs: fault:<name>"
    )
    at_s: float = Field(
        gt=0, description="injection time, seconds from the end of the warm-up (30, '30s')"
    )
    for_s: float = Field(gt=0, description="how long the fault stays")
    target: str = Field(description="a proxy (toxics, down, pool_exhaustion) or a service")
    fault: str = Field(description=f"fault kind: {', '.join(sorted(REGISTRY))}")
    attributes: dict[str, Any] = Field(default_factory=dict, description="the kind's attributes")
    detect: str | None = Field(
        None, description="dependency whose breaker marks detection (default: the target)"
    )

    @field_validator("at_s", "for_s", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float:
        return parse_duration(value)

    @model_validator(mode="after")
    def _buildable(self) -> FaultStep:
        self.build()
        return self

    def build(self) -> Fault:
        """The fault object (raises ValueError naming a bad attribute). Whether the target
        exists is the scenario's check (`Scenario._check_targets`): it knows the stack."""
        return build_fault(self.fault, self.target, self.attributes)

    def target_problem(self, proxies: tuple[str, ...], services: tuple[str, ...]) -> str | None:
        """Why this step's target is not one of these (None when it is)."""
        if self.target not in proxies and self.target not in services:
            return (
                f"unknown target {self.target!r}; proxies: {', '.join(proxies) or 'none'};"
                f" services: {', '.join(services) or 'none'}"
            )
        kind = self.build().target_kind()
        known = proxies if kind == "proxy" else services
        if self.target not in known:
            return f"{self.fault} needs a {kind} target, one of: {', '.join(known) or 'none'}"
        return None

    @property
    def end_s(self) -> float:
        return self.at_s + self.for_s

    _dependencies: tuple[str, ...] = PrivateAttr(DEPENDENCIES)  # a target's: its upstreams

    @property
    def detect_dependency(self) -> str | None:
        if self.detect is not None:
            return self.detect
        return self.target if self.target in self._dependencies else None


class KpiSpec(_Model):
    expression: str
    abort: bool = Field(False, description="stop the run early when this breaks")
    grace_s: float = Field(
        0.0, ge=0, le=3600, description="abort only after it stayed broken this long"
    )

    _kpi: Kpi | None = PrivateAttr(None)  # parsed once, when the spec is validated

    @field_validator("expression")
    @classmethod
    def _parses(cls, expression: str) -> str:
        try:
            parse_kpi(expression)
        except ExpressionError as error:
            raise ValueError(str(error)) from None
        return expression

    @model_validator(mode="after")
    def _keep_parsed(self) -> KpiSpec:
        self._kpi = parse_kpi(self.expression)
        return self

    @property
    def kpi(self) -> Kpi:
        """The typed KPI: parsed when the spec was validated, never again at each use."""
        assert self._kpi is not None  # set by the validator
        return self._kpi


class StackSpec(_Model):
    requires: list[str] = Field(default_factory=list, description="services the scenario needs")
    sut_overrides: dict[str, Scalar] = Field(
        default_factory=dict,
        description="dotted SUT config keys, e.g. postgres.breaker.enabled: false",
    )

    @field_validator("sut_overrides", mode="before")
    @classmethod
    def _finite(cls, overrides: Any) -> Any:
        for key, value in overrides.items() if isinstance(overrides, dict) else ():
            if isinstance(value, float) and not math.isfinite(value):
                raise LocatedValueError(f"expected a finite number, got {value}", (key,))
        return overrides

    @field_validator("sut_overrides")
    @classmethod
    def _sut_accepts(cls, overrides: dict[str, Scalar]) -> dict[str, Scalar]:
        from fixtures.sut_config import check_overrides

        problem = check_overrides(overrides)
        if problem is not None:
            raise LocatedValueError(problem[1], (problem[0],))
        return overrides

    @field_validator("requires")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in SERVICES:
                raise ValueError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
        return names


class Scenario(_Model):
    name: str = Field(pattern=NAME, max_length=MAX_NAME)  # names paths and report titles
    description: str = ""
    tags: list[str] = Field(default_factory=list, description="suites: release, smoke, ...")
    seed: int | None = Field(
        None, ge=SEED_MIN, le=SEED_MAX, description="overrides load.seed: arrivals replay exactly"
    )
    target: str | dict[str, Any] | None = Field(
        None,
        description="the service under test: a target file (path relative to this scenario file)"
        " or the target mapping inline (target_url, upstreams, signals, processes...);"
        " none: the reference stack",
    )
    stack: StackSpec = Field(default_factory=StackSpec)
    load: LoadPlan
    faults: list[FaultStep] = Field(default_factory=list)
    kpis: list[KpiSpec] = Field(min_length=1)
    steady_state: list[str] | None = Field(
        None, description="recovery checks (default: baseline KPIs)"
    )
    recovery_consecutive_s: int = Field(3, ge=1, le=60, description="K healthy seconds in a row")
    end_on_recovery: bool = Field(
        True, description="stop the load once every fault has recovered (keeps runs short)"
    )
    _target: ExternalTarget | None = PrivateAttr(None)  # `target` loaded (see external_target)

    @field_validator("kpis", mode="before")
    @classmethod
    def _strings_are_kpis(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"expression": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("steady_state")
    @classmethod
    def _steady_parses(cls, value: list[str] | None) -> list[str] | None:
        for expression in value or []:
            try:
                kpi = parse_kpi(expression)
            except ExpressionError as error:
                raise ValueError(str(error)) from None
            if not kpi.entry.live:
                raise ValueError(
                    f"a steady-state check must be windowed (latency, error_rate): {expression}"
                )
        return value

    @model_validator(mode="after")
    def _coherent(self, info: ValidationInfo) -> Scenario:
        if self.target is not None:
            given = (info.context or {}).get("target")  # the loader's, errors at file:line
            self._target = given if given is not None else _load_target(self.target)
        self._check_targets()
        names = [f.name for f in self.faults]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise LocatedValueError(
                    f"fault names must be unique: {name!r} is also faults.{names.index(name)}",
                    ("faults", index, "name"),
                )
        previous_end = 0.0
        for index, step in enumerate(self.faults):
            if step.at_s < previous_end:
                raise LocatedValueError(
                    f"fault {step.name!r} starts at {step.at_s:g}s, before the previous one ends ({previous_end:g}s)",
                    ("faults", index, "at_s"),
                )
            previous_end = step.end_s
        if self.faults and previous_end >= self.duration_s:
            raise LocatedValueError(
                f"the last fault ends at {previous_end:g}s but the load lasts only {self.duration_s:g}s: leave time to recover",
                ("faults", len(self.faults) - 1, "for_s"),
            )
        written: dict[tuple[object, ...], int] = {}
        for index, spec in enumerate(self.kpis):
            where: tuple[int | str, ...] = ("kpis", index)
            kpi = spec.kpi  # parsed: `p95<5ms` is `p95 < 5 ms`
            same = (kpi.function, kpi.argument, kpi.comparator, kpi.threshold, kpi.unit, kpi.window)
            if same in written:
                raise LocatedValueError(
                    f"the KPI {spec.expression!r} is listed twice (also kpis.{written[same]});"
                    " list each KPI once",
                    where,
                )
            written[same] = index
            self._check_references(spec.kpi, names, where)
            if spec.abort and not spec.kpi.entry.live:
                raise LocatedValueError(
                    f"{spec.expression!r} cannot abort the run: {spec.kpi.function} is judged only at the end",
                    where,
                )
        for index, check in enumerate(self.steady_checks() if self.steady_state else []):
            self._check_references(check, names, ("steady_state", index))
        recovery = [i for i, s in enumerate(self.kpis) if s.kpi.function == "recovery"]
        if recovery and not self.steady_checks():
            raise LocatedValueError(
                "recovery(...) needs steady-state checks: add steady_state or a KPI 'during baseline'",
                ("kpis", recovery[0]),
            )
        return self

    def external_target(self) -> ExternalTarget | None:
        """The loaded target (None: the reference stack)."""
        return self._target

    def _check_targets(self) -> None:
        """Fault targets exist on the stack this scenario runs on: the reference stack's, or
        the target's upstreams and client edge (proxy faults) and its processes."""
        target = self._target
        if target is not None and (self.stack.requires or self.stack.sut_overrides):
            key = "requires" if self.stack.requires else "sut_overrides"
            raise LocatedValueError(
                f"stack.{key} applies to the reference stack only; this scenario names a target",
                ("stack", key),
            )
        proxies = PROXIES if target is None else target.proxy_names
        services = SERVICES if target is None else tuple(target.processes)
        for index, step in enumerate(self.faults):
            if target is not None:
                step._dependencies = tuple(target.upstreams)  # whose breaker detects its faults
            problem = step.target_problem(proxies, services)
            if problem is None and target is not None:  # what the kind itself needs there
                problem = step.build().problem_on(target)
            if problem is not None:
                raise LocatedValueError(problem, ("faults", index, "target"))
            if step.detect is not None and step.detect not in (known := self._detectable()):
                raise LocatedValueError(
                    f"detect: {step.detect!r} is not a dependency of the"
                    f" {'reference stack' if target is None else 'target'}; expected one of:"
                    f" {', '.join(known) or 'none'}",
                    ("faults", index, "detect"),
                )

    def _detectable(self) -> tuple[str, ...]:
        """What `detect:` may name: a dependency, or anything with a breaker series."""
        target = self._target
        names = DEPENDENCIES if target is None else tuple(target.upstreams)
        breakers = sorted(
            s.removeprefix("breaker.") for s in self.probe_series() if s.startswith("breaker.")
        )
        return tuple(dict.fromkeys((*names, *breakers)))

    def probe_series(self) -> frozenset[str]:
        """The probe series a KPI may name: the reference SUT's, or the target's profile's."""
        target = self._target
        if target is None:
            return PROBE_SERIES
        from fixtures.signals import series_names

        return series_names(target.signals, target.upstreams, processes=target.processes)

    def _check_references(self, kpi: Kpi, names: list[str], where: tuple[int | str, ...]) -> None:
        """Every name a KPI gives must exist in this scenario: its fault, window, request or
        probe series (which kind of argument a function takes is the registry's)."""
        kind = kpi.entry.argument
        referenced = kpi.argument if kind == "fault" else None
        if kpi.window and ":" in kpi.window:
            referenced = kpi.window.split(":", 1)[1]
        if referenced is not None and referenced not in names:
            raise LocatedValueError(
                f"{kpi.text!r} names fault {referenced!r}, which is not scheduled ({', '.join(names) or 'no faults'})",
                where,
            )
        if kpi.window in ("fault", "recovery") and not names:
            raise LocatedValueError(f"{kpi.text!r}: no fault is scheduled", where)
        if kind == "websocket" and "websocket" not in self.load.users:
            raise LocatedValueError(f"{kpi.text!r}: the scenario runs no websocket user", where)
        if kind in ("edge", "series"):
            self._check_cost_reference(kpi, where)
            return
        if kind not in ("request", "probe-or-request") or kpi.argument == "*":
            return
        requests = self.request_names()
        probes = self.probe_series() if kind == "probe-or-request" else frozenset()
        if kpi.argument not in requests and kpi.argument not in probes:
            known = ", ".join(sorted(requests))
            known += ", a probe series such as ready, db_query, breaker.postgres" if probes else ""
            raise LocatedValueError(
                f"{kpi.text!r}: {kpi.function}() needs a request its users send, "
                f"and {kpi.argument!r} is none ({known}; or *)",
                where,
            )

    def _check_cost_reference(self, kpi: Kpi, where: tuple[int | str, ...]) -> None:
        """amplification(EDGE[, REQUEST]): an edge whose calls the service counts (its signals
        profile names `calls`); returns(SERIES) during recovery:FAULT: a probe series."""
        series = self.probe_series()
        if kpi.entry.argument == "edge":
            from reports.kpi_cost import edge_argument

            edge, name = edge_argument(kpi.argument)
            edges = sorted(s.split(".", 1)[1] for s in series if s.startswith("calls."))
            if f"calls.{edge}" not in series:
                known = ", ".join(edges) or "none: the signals profile names no `calls` metric"
                raise LocatedValueError(
                    f"{kpi.text!r}: {edge!r} is no edge whose calls the service counts ({known})",
                    where,
                )
            if name is not None and name not in self.request_names():
                known = ", ".join(sorted(self.request_names()))
                raise LocatedValueError(
                    f"{kpi.text!r}: {name!r} is no request its users send ({known})", where
                )
            return
        if kpi.argument not in series:
            raise LocatedValueError(
                f"{kpi.text!r}: {kpi.argument!r} is no probe series (e.g. pool.postgres.in_use,"
                " edge.postgres.open, proc.backend.rss_mb)",
                where,
            )
        if kpi.function == "slope":  # any window; judged on the whole result (kpi_trend)
            return
        if not is_recovery_of_one(kpi.window) or kpi.comparator not in ("<", "<="):
            raise LocatedValueError(
                f"{kpi.text!r}: write returns(SERIES) < Ns during recovery:FAULT"
                " (seconds from that fault's removal)",
                where,
            )
        watched = [p.end_s - p.start_s for p in self.phases() if p.name == kpi.window]
        if watched and kpi.threshold > watched[0]:  # it could only pass or be insufficient
            raise LocatedValueError(
                f"{kpi.text!r}: the run watches only {watched[0]:g}s after that fault's removal"
                f" (its recovery window): a threshold of at most {watched[0]:g}s",
                where,
            )

    def request_names(self) -> frozenset[str]:
        """Every request name the scenario's users declare (`request_names` on each class)."""
        return frozenset(name for user in self.load.users for name in request_names(user))

    @property
    def duration_s(self) -> float:
        return self.load.duration_s

    def plan(self) -> LoadPlan:
        """The load plan with the scenario's seed applied."""
        return self.load if self.seed is None else self.load.model_copy(update={"seed": self.seed})

    def watched_until_s(self) -> float:
        """The load may not end early (end_on_recovery) before this scenario second: each
        `returns(...) < Ns during recovery:FAULT` needs N s of samples after that fault's end
        (+1 s for the undo and the last samples), or it could only be insufficient."""
        ends = {step.name: step.end_s for step in self.faults}
        return max(
            (
                ends[s.kpi.window.split(":", 1)[1]] + s.kpi.threshold + 1.0
                for s in self.kpis
                if s.kpi.function == "returns" and s.kpi.window and ":" in s.kpi.window
            ),
            default=0.0,
        )

    def steady_checks(self) -> list[Kpi]:
        if self.steady_state is not None:
            return [parse_kpi(e) for e in self.steady_state]
        return [s.kpi for s in self.kpis if s.kpi.window == "baseline" and s.kpi.entry.live]

    def phases(self) -> list[Phase]:
        """Baseline, then each fault and its recovery. The baseline stops BASELINE_GUARD_S short
        of the first fault: a request sent in the second before it may still be in flight when
        the fault starts (seen: a GET sent at 5.99 s refused by a proxy cut at 6 s)."""
        first = self.faults[0].at_s if self.faults else self.duration_s
        end = first - BASELINE_GUARD_S if self.faults and first >= 2 * BASELINE_GUARD_S else first
        phases = [Phase(name="baseline", kind="baseline", start_s=0.0, end_s=end, fault=None)]
        for index, step in enumerate(self.faults):
            after = self.faults[index + 1].at_s if index + 1 < len(self.faults) else self.duration_s
            phases.append(
                Phase(
                    name=fault_window(step.name),
                    kind="fault",
                    start_s=step.at_s,
                    end_s=step.end_s,
                    fault=step.name,
                )
            )
            phases.append(
                Phase(
                    name=recovery_window(step.name),
                    kind="recovery",
                    start_s=step.end_s,
                    end_s=after,
                    fault=step.name,
                )
            )
        return phases


BASELINE_GUARD_S = 1.0


def overrides_key(scenario: Scenario) -> tuple[tuple[str, Scalar], ...]:
    """Scenarios with equal keys can share one stack: the same target (or none), the same
    SUT overrides."""
    target = scenario.target
    key = tuple(sorted(scenario.stack.sut_overrides.items()))
    if target is None:
        return key
    named = target if isinstance(target, str) else json.dumps(target, sort_keys=True)
    return (("target", named), *key)


def _load_target(target: str | dict[str, Any]) -> ExternalTarget:
    """A target given without the loader (Python API, replay): a path from the current
    directory, or a mapping (its relative paths from the current directory too)."""
    import yaml

    from fixtures.target import load_target, parse_target

    if isinstance(target, str):
        return load_target(Path(target))
    root = yaml.compose(yaml.safe_dump(target), Loader=yaml.SafeLoader)
    return parse_target(root, "<scenario target>", Path.cwd())


def json_schema_text() -> str:
    """The published JSON Schema (scenarios/scenario.schema.json); a test keeps the file current."""
    import json

    schema = Scenario.model_json_schema()
    kpi_ref = schema["properties"]["kpis"]["items"]
    schema["properties"]["kpis"]["items"] = {"anyOf": [{"type": "string"}, kpi_ref]}
    for definition in [schema, *schema.get("$defs", {}).values()]:
        _durations_accept_text(definition)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://chaosgate.dev/scenario.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


_DURATION_TEXT = {"type": "string", "description": "a duration: 30s, 1m30s, 500ms, 2.5"}


def _durations_accept_text(definition: dict[str, Any]) -> None:
    """Durations (`*_s` numbers) also accept "30s"-style text, as the validators do."""
    for name, prop in definition.get("properties", {}).items():
        if not name.endswith("_s"):
            continue
        if prop.get("type") == "number":
            number = {
                k: prop.pop(k) for k in list(prop) if k not in ("title", "description", "default")
            }
            prop["anyOf"] = [number, _DURATION_TEXT]
        elif "anyOf" in prop and {"type": "number"} in prop["anyOf"]:
            prop["anyOf"].append(_DURATION_TEXT)


if __name__ == "__main__":  # python -m scenarios.schema  rewrites the published schema
    from pathlib import Path

    Path(__file__).with_name("scenario.schema.json").write_text(json_schema_text())
