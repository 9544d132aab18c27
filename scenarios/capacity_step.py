"""One capacity step: a short scenario derived from the searched one, its verdict and its point
on the curve.

A step keeps the scenario's users, seed, warm-up, target and SUT overrides (so every step runs
on the one stack `RunSession` keeps up), holds the rate at R, and is long enough that each
judged KPI's planned n is `planned_n.FACTOR` x its floor. Its slots grow with the rate
(R x `SERVICE_S`: a generous service time, so a step is never starved by the harness).
With `during`, the fault is held on for the whole judged window (`fault:<name>`), after a
baseline as long as the scenario's (a catalog fault: LEAD_S) and before a short recovery.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from chaosgate.errors import ExpressionError
from reports.hdr import merge
from reports.kpi_functions import MIN_COUNT_WINDOW_S
from reports.kpi_parse import parse_kpi
from reports.model import ScenarioResult
from reports.windows import BASELINE, fault_window
from scenarios.capacity import StepVerdict
from scenarios.load.plan import MAX_DURATION_S
from scenarios.planned_n import FACTOR, plan
from scenarios.schema import FaultStep, Scenario

SERVICE_S = 2.0  # slots = rate x this: far above any service time a passing step has
LEAD_S = 3.0  # --during a catalog fault: baseline before it (a scenario's fault: its own at_s,
# e.g. the seconds a cache needs to fill before the warehouse times out)
TAIL_S = 3.0  # ...and recovery after it
MAX_STEP_S = min(600.0, MAX_DURATION_S)
_DURING = re.compile(r"\s+during\s+\S+\s*$")


class CapacityInputError(ValueError):
    """Bad input for a search (exit 2): an unknown --kpi or --during, no KPI to judge."""


@dataclass(frozen=True)
class StepPlan:
    """What every step shares: the judged KPIs, the window they judge, the fault held on."""

    base: Scenario
    kpis: tuple[str, ...]
    window: str  # "baseline" or "fault:<name>"
    fault: FaultStep | None
    min_step_s: float
    checks: tuple[str, ...] = ()  # the scenario's capacity KPIs, judged on the knee

    @property
    def capacity_floor(self) -> float | None:
        """The highest N of `capacity(...) >= N rps`: a search need not step above it."""
        return max((parse_kpi(k).threshold for k in self.checks), default=None)

    def scenario(self, rate: float, hold_s: float, suffix: str = "") -> Scenario:
        base = self.base
        data: dict[str, Any] = base.model_dump(mode="python")
        load = data["load"]
        total = hold_s + (self.fault.at_s + TAIL_S if self.fault else 0.0)
        load["rate"] = [{"rps": rate, "hold_s": total}]
        load["concurrency"] = min(20_000, max(10, base.load.concurrency or 0,
                                              math.ceil(rate * SERVICE_S)))  # fmt: skip
        data.update(name=f"{base.name}-{rate:g}rps{suffix}", kpis=list(self.kpis),
                    steady_state=None, end_on_recovery=False, tags=["capacity"])  # fmt: skip
        data["faults"] = []
        if self.fault is not None:
            fault = self.fault.model_dump(mode="python")
            data["faults"] = [fault | {"for_s": hold_s}]  # after the scenario's own lead
        data["target"] = base.target
        return Scenario.model_validate(data, context={"target": base.external_target()})

    def hold_s(self, rate: float) -> float:
        """Seconds of judged load at `rate` for each KPI's planned n to be FACTOR x its floor."""
        probe_s = 10.0
        planned = plan(self.scenario(rate, probe_s))
        needed = [self.min_step_s]
        for p in planned:
            if p.planned > 0:
                needed.append(FACTOR * p.needed / (p.planned / probe_s))
        if any(parse_kpi(k).function in ("count", "rps") for k in self.kpis):
            needed.append(MIN_COUNT_WINDOW_S)
        return float(min(MAX_STEP_S, math.ceil(max(needed))))


def _judged_text(expression: str, window: str) -> str:
    """The KPI as the step judges it: on `window` when it was on baseline or the whole run."""
    kpi = parse_kpi(expression)
    if not kpi.entry.windowed:
        raise CapacityInputError(
            f"{expression!r}: capacity judges windowed KPIs (pN, error_rate...)"
        )
    if kpi.window not in ("baseline", "whole") or window == kpi.window:
        return expression
    return f"{_DURING.sub('', expression)} during {window}"


def _fault(scenario: Scenario, during: str) -> FaultStep:
    """The scenario's fault of that name, or a catalog fault `TARGET:KIND[:key=value,...]`."""
    for step in scenario.faults:
        if step.name == during:
            return step
    target, colon, rest = during.partition(":")
    kind, _, given = rest.partition(":")
    names = ", ".join(f.name for f in scenario.faults) or "none"
    if not colon:
        raise CapacityInputError(
            f"--during {during!r}: no fault of that name in {scenario.name} ({names}); or give"
            " a catalog fault as TARGET:KIND[:key=value,...], e.g. postgres:latency:latency_ms=300"
        )
    attributes: dict[str, Any] = {}
    for pair in filter(None, given.split(",")):
        key, equals, value = pair.partition("=")
        if not equals:
            raise CapacityInputError(f"--during {during!r}: expected key=value, got {pair!r}")
        attributes[key.strip()] = yaml.safe_load(value)
    try:
        return FaultStep(name=re.sub(r"[^A-Za-z0-9_.\-]", "-", f"{target}-{kind}"), at_s=LEAD_S,
                         for_s=1, target=target, fault=kind, attributes=attributes)  # fmt: skip
    except ValueError as error:
        raise CapacityInputError(f"--during {during!r}: {error}") from None


def _default_kpis(scenario: Scenario, window: str) -> list[str]:
    """Without --kpi: the KPIs the scenario judges on that fault's window, if any; else its
    baseline KPIs (moved onto the fault's window by `_judged_text`)."""
    on_fault = [s.expression for s in scenario.kpis if s.kpi.window == window]
    if window != "baseline" and on_fault:
        return on_fault
    return [s.expression for s in scenario.kpis if s.kpi.window == "baseline"]


def _capacity_kpis(scenario: Scenario, window: str) -> tuple[list[str], list[str]]:
    """(the scenario's capacity KPIs, the baseline KPIs a search for them holds): those on
    their request and on `*` (all of them for `capacity(*)`). One request per scenario: one
    search judges them all."""
    checks = [s.kpi for s in scenario.kpis if s.kpi.function == "capacity"]
    arguments = sorted({k.argument for k in checks})
    if len(arguments) > 1:
        raise CapacityInputError(
            f"{scenario.name}: capacity KPIs on {', '.join(arguments)}: one search judges one"
            " request; split them into one scenario per request"
        )
    held = [
        k
        for k in _default_kpis(scenario, window)
        if arguments and (arguments[0] == "*" or parse_kpi(k).argument in (arguments[0], "*"))
    ]
    if checks and not held:
        raise CapacityInputError(
            f"{checks[0].text!r}: no baseline KPI on {arguments[0]} (or *) to hold: add one,"
            " e.g. p95(...) < 200ms during baseline"
        )
    return [k.text for k in checks], held


def step_plan(
    scenario: Scenario, kpis: list[str], during: str | None, min_step_s: float
) -> StepPlan:
    """Check the search's input (CapacityInputError, exit 2) and say what each step judges.
    The scenario's capacity KPIs are judged when the search holds its own baseline KPIs (no
    --kpi, no --during): they are its definition of capacity."""
    fault = _fault(scenario, during) if during else None
    window = fault_window(fault.name) if fault else BASELINE
    checks: list[str] = []
    if not kpis and not during:
        checks, held = _capacity_kpis(scenario, window)
        kpis = held
    try:
        given = kpis or _default_kpis(scenario, window)
        if not given:
            raise CapacityInputError(
                f"{scenario.name} has no KPI during baseline: name the ones to hold with --kpi"
            )
        judged = tuple(dict.fromkeys(_judged_text(k, window) for k in given))
    except ExpressionError as error:
        raise CapacityInputError(f"--kpi: {error}") from None
    found = StepPlan(scenario, judged, window, fault, min_step_s, tuple(checks))
    try:
        found.scenario(10.0, 10.0)  # every name a KPI gives must exist (the schema's check)
    except ValueError as error:
        raise CapacityInputError(f"--kpi / --during: {error}") from None
    return found


# -- a step's verdict and its point on the curve ---------------------------------------------
def verdict(rate: float, result: ScenarioResult) -> StepVerdict:
    margins = [
        k.margin / abs(k.threshold)
        for k in result.kpis
        if k.margin is not None and k.threshold and k.status != "insufficient"
    ]
    broken = next((k for k in result.kpis if k.status == "fail" and not k.passed), None)
    broke = None
    if broken is not None:
        measured = "nothing" if broken.measured is None else f"{broken.measured:.4g} {broken.unit}"
        broke = f"{broken.expression} (measured {measured})"
    status = result.status if result.status in ("pass", "fail") else "invalid"
    return StepVerdict(rate, status, min(margins, default=None), broke,
                       result.invalid_reason)  # fmt: skip


@dataclass(frozen=True)
class Point:
    """A step on the curve: latency of the judged requests, error and degraded rates."""

    name: str
    rate: float
    throughput_rps: float | None  # requests completed per second in the judged window
    status: str
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    requests: int
    error_rate: float
    degraded_rate: float
    generator_cpu: float | None
    sut_cpu: float | None = None  # % of one core, the SUT's processes over the judged window

    @property
    def refused_share(self) -> float:
        """Errors and degraded (shed) answers: what saturation is judged on."""
        return self.error_rate + self.degraded_rate


def point(rate: float, result: ScenarioResult, plan_: StepPlan) -> Point:
    spans = [(p.start_s, p.end_s) for p in result.phases if p.name == plan_.window]
    names = {parse_kpi(k).argument for k in plan_.kpis}
    buckets = [b for b in result.series if any(s <= b.mid_s < e for s, e in spans)]
    judged = [b for b in buckets if b.name in names] if "*" not in names else buckets
    judged = judged or buckets
    count = sum(b.count for b in judged)
    histogram = merge(b.histogram for b in judged)

    def at(q: float) -> float | None:
        return histogram.get_value_at_percentile(q) / 1000 if histogram.get_total_count() else None

    generator = result.generator
    seconds = sum(e - s for s, e in spans)
    throughput = sum(b.count for b in buckets) / seconds if seconds else None
    return Point(result.name, rate, throughput, result.status,
                 at(50), at(95), at(99), count,
                 sum(b.errors for b in judged) / count if count else 0.0,
                 sum(b.degraded for b in judged) / count if count else 0.0,
                 generator.cpu_percent_max if generator else None,
                 sut_cpu_percent(result, spans))  # fmt: skip


def sut_cpu_percent(result: ScenarioResult, spans: list[tuple[float, float]]) -> float | None:
    """The SUT's CPU over the judged window, % of one core: each process family's CPU-seconds
    counter (`proc.<p>.cpu_s`, scenarios.resources) read at its first and last sample inside the
    window, summed over the processes the probe watches. None without such samples."""
    used = seconds = 0.0
    for start, end in spans:
        by_name: dict[str, list[tuple[float, float]]] = {}
        for sample in result.probes:
            if (sample.name.startswith("proc.") and sample.name.endswith(".cpu_s")
                    and start <= sample.t_s <= end and isinstance(sample.value, float | int)):  # fmt: skip
                by_name.setdefault(sample.name, []).append((sample.t_s, float(sample.value)))
        spanned = [(v[-1][0] - v[0][0], v[-1][1] - v[0][1]) for v in by_name.values() if len(v) > 1]
        if spanned:
            seconds += max(t for t, _ in spanned)
            used += sum(max(c, 0.0) for _, c in spanned)  # a restarted process starts at 0
    return round(100 * used / seconds, 1) if seconds > 0 else None
