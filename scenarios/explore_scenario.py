"""A schedule as a scenario: the explored scenario's stack, load and steady-state KPIs, the
schedule's faults, and the recovery promise `recovery(F) < 30s` for every fault (the plan's
30 s unless `--recovery-s` states a service's own).

Faults that overlap become one `overlap` step (fixtures/faults/overlap.py): a scenario's windows
follow one another. The load is the scenario's, held at its last rate for as long as the last
fault's recovery may take (the promise + TAIL_S after it; `end_on_recovery` stops it as soon as
every fault has recovered). KPIs that name the scenario's own faults are not kept (those faults
are replaced); baseline and whole-run KPIs are.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fixtures.stack import DEPENDENCIES, PROXIES, SUT_PROCESSES
from scenarios.explore import (
    RECOVERY_S,
    TIME_STEP_S,
    Planned,
    Schedule,
    Space,
    space_for,
)
from scenarios.schema import Scenario

TAIL_S = 3.0  # beyond it: the K healthy seconds a recovery is judged on
_FAULT_NAME = re.compile(
    r"\b(recovery|detect|returns)\(([^)]*)\)|(fault|recovery):[A-Za-z0-9_.\-]+"
)


def targets(base: Scenario) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The stack's edges (proxies) and processes a fault may target."""
    target = base.external_target()
    if target is None:
        return PROXIES, (*DEPENDENCIES, *SUT_PROCESSES)
    return target.proxy_names, tuple(target.processes)


def fault_window(base: Scenario) -> tuple[float, float]:
    """Where faults may live: after the scenario's baseline (its first fault's start, else a
    third of its load) until the end of its load."""
    start = base.faults[0].at_s if base.faults else round(base.duration_s / 3, 1)
    return start, base.duration_s


MAX_BASELINE_S = 300.0  # the latest a window is moved to for its evidence (then: a warning)


def evidence_window(plan: ExplorePlan, space: Space) -> Space:
    """The space with its window moved to the earliest start (on the TIME_STEP_S grid) at which
    a fault leaves every steady KPI its planned evidence (scenarios.planned_n: FACTOR x its
    floor) in the baseline before it, the window's length kept (the load is held longer by as
    much); unmoved when none does by MAX_BASELINE_S. A run whose baseline is short of it is
    INVALID, whatever the schedule (measured: the healthy `baseline` search judged 3 of 20)."""
    from scenarios.planned_n import plan as planned

    first, at = space.pairs()[0], space.start_s
    while at <= MAX_BASELINE_S:
        moved = dataclasses.replace(space, start_s=at, end_s=space.end_s + at - space.start_s)
        found = planned(plan.scenario(moved.probe(*first), "probe"))
        if not any(p.short for p in found if p.index < len(plan.kpis)):  # the steady KPIs lead
            return moved
        at = (math.floor(at / TIME_STEP_S) + 1) * TIME_STEP_S  # on the grid schedules use
    return space


# On the reference stack pool_exhaustion stirs the SUT through a request that uses the pool
# (fixtures/faults/pool.py): only these dependencies have one.
REFERENCE_ONLY = {"pool_exhaustion": ("postgres", "redis")}


def explore_space(base: Scenario, kinds: list[str], only: list[str], **bounds: float) -> Space:
    """The catalog over the scenario's stack, each (kind, target) checked by the scenario schema
    (a pair it refuses, e.g. pool_exhaustion on a target without a pool signal, is left out)."""
    proxies, services = targets(base)
    start, end = fault_window(base)
    found = space_for(proxies, services, start, end, kinds=kinds, targets=only, **bounds)
    plan, kept = explore_plan(base, bounds.get("recovery_s", RECOVERY_S)), {}
    if found.pairs():  # moved later for the steady KPIs' evidence
        found = evidence_window(plan, found)
    for kind, names in found.kinds.items():
        allowed = REFERENCE_ONLY.get(kind) if base.external_target() is None else None
        ok = []
        for name in names:
            try:
                plan.scenario(found.probe(kind, name), "probe")
            except ValueError:
                continue
            if allowed is None or name in allowed:
                ok.append(name)
        if ok:
            kept[kind] = tuple(ok)
    return dataclasses.replace(found, kinds=kept)


def steady_kpis(base: Scenario) -> list[str]:
    """The scenario's KPIs that name none of its faults (baseline, whole run, unwindowed)."""
    return [s.expression for s in base.kpis if not _FAULT_NAME.search(s.expression)]


def signature(expression: str) -> str:
    """A broken KPI with its fault's name taken out: the same failure after a shrink renames
    or merges steps (`recovery(overlap-0) < 30s` and `recovery(redis-down-0) < 30s` match)."""
    return _FAULT_NAME.sub(
        lambda m: f"{m.group(1)}(F)" if m.group(1) else f"{m.group(3)}:F", expression
    )


def _attributes(fault: Planned) -> dict[str, Any]:
    return dict(fault.attributes)


def steps(schedule: Schedule, recovery_s: float = RECOVERY_S) -> list[dict[str, Any]]:
    """The schedule as the scenario's fault steps (an overlap step per cluster: faults less
    than `recovery_s` apart)."""
    found = []
    for index, group in enumerate(schedule.clusters(recovery_s)):
        first = group[0]
        if len(group) == 1:
            found.append({"name": f"{first.target}-{first.kind}-{index}", "at_s": first.at_s,
                          "for_s": first.for_s, "target": first.target, "fault": first.kind,
                          "attributes": _attributes(first)})  # fmt: skip
            continue
        parts = {
            f"{j}-{f.target}-{f.kind}": {
                "target": f.target,
                "fault": f.kind,
                "attributes": _attributes(f),
                "offset_s": f.at_s - first.at_s,
                "for_s": f.for_s,
            }
            for j, f in enumerate(group)
        }
        span = max(f.end_s for f in group) - first.at_s
        found.append({"name": f"overlap-{index}", "at_s": first.at_s, "for_s": span,
                      "target": first.target, "fault": "overlap",
                      "attributes": {"parts": parts}})  # fmt: skip
    return found


@dataclass(frozen=True)
class ExplorePlan:
    base: Scenario
    kpis: tuple[str, ...]  # the scenario's steady KPIs (the recovery promise is added per step)
    recovery_s: float = RECOVERY_S  # the promise: recovery(F) < recovery_s for every step

    def scenario(self, schedule: Schedule, name: str, seed: int | None = None) -> Scenario:
        base = self.base
        data: dict[str, Any] = base.model_dump(mode="python")
        faults = steps(schedule, self.recovery_s)
        last_end = max((f["at_s"] + f["for_s"] for f in faults), default=0.0)
        extra = max(0.0, last_end + self.recovery_s + TAIL_S - base.duration_s)
        if extra:
            data["load"]["rate"] = [*data["load"]["rate"], {"hold_s": extra}]
        recovery = [f"recovery({f['name']}) < {self.recovery_s:g}s" for f in faults]
        data.update(name=name, faults=faults, description=f"explore: {schedule.describe()}", kpis=[*self.kpis, *recovery],
                    end_on_recovery=True, tags=["explore"])  # fmt: skip
        if seed is not None and base.seed is None:
            data["seed"] = seed
        data["target"] = base.target
        return Scenario.model_validate(data, context={"target": base.external_target()})


def explore_plan(base: Scenario, recovery_s: float = RECOVERY_S) -> ExplorePlan:
    return ExplorePlan(base, tuple(steady_kpis(base)), recovery_s)


def scenario_yaml(scenario: Scenario, header: list[str]) -> str:
    """The scenario as a file `chaosgate run` takes (defaults left out), under a comment header."""
    data = scenario.model_dump(mode="json", exclude_defaults=True)
    data["kpis"] = [s.expression for s in scenario.kpis]
    text = yaml.safe_dump(data, sort_keys=False, width=100)
    return "".join(f"# {line}\n" for line in header) + text


def write_scenario(path: Path, scenario: Scenario, header: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scenario_yaml(scenario, header))
    return path
