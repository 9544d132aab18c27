"""Compare a new run with a baseline run: per KPI and per endpoint percentile, what changed
and whether it regressed beyond a tolerance. `chaosgate run --baseline` calls `compare_results`.

Direction comes from the KPI's comparator (`<` means higher is worse); latency percentiles are
always higher-is-worse. A KPI that passed in the baseline and fails now is a regression whatever
the tolerance, and so is a scenario or KPI of the baseline that the new run lacks (a gate that
silently drops a check must not read as "no regression"). When either run is INVALID there is
no verdict to draw: the comparison exits 3, like the run itself. Percentiles are read from the whole run's merged HDR histogram per endpoint, so
they are exact to HDR precision, never averages of per-second percentiles.

A zero base has no relative change: a rise from 0 is judged against an absolute tolerance per
unit (`ZERO_BASE_TOLERANCE`: 0 → 0.5 % errors is a regression, 0 → 0.05 % is not). An endpoint
of the baseline missing from the new run is a regression (its traffic was dropped, not sped up).
Two runs of differing scenario definitions (`definition_hash`: the recorded scenario without
its seed, description and tags) measure different things: they are reported and the comparison
exits 3 unless `allow_changed` (`--allow-changed`).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from chaosgate.errors import EXIT_INVALID, EXIT_KPI_FAILED, EXIT_OK, InputError
from reports import hdr
from reports.model import KpiVerdict, RunResult

PERCENTILES = (50.0, 95.0, 99.0)
# a rise from a zero base beyond this (in the measure's unit) is a regression
ZERO_BASE_TOLERANCE = {"ms": 1.0, "s": 0.1, "%": 0.1, "count": 0.0}
# what may differ between two runs of the same scenario definition
NOT_DEFINITION = ("seed", "description", "tags")


def definition_hash(scenario: dict[str, Any] | None) -> str | None:
    """A short hash of a recorded scenario definition (None: the result carries none)."""
    if scenario is None:
        return None
    kept = {k: v for k, v in scenario.items() if k not in NOT_DEFINITION}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Change:
    """One compared quantity. `relative` is the worse-direction change (+0.25 = 25% worse)."""

    scenario: str
    subject: str  # the KPI expression, or "p95(GET /api/items)"
    unit: str
    base: float | None
    new: float | None
    relative: float | None
    regressed: bool
    note: str = ""

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.new is None else self.new - self.base


@dataclass(frozen=True)
class Comparison:
    base_run: str
    new_run: str
    tolerance: float
    kpis: list[Change] = field(default_factory=list)
    percentiles: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    invalid_runs: tuple[str, ...] = ()  # "base" and/or "new": their numbers cannot be trusted
    changed: tuple[str, ...] = ()  # scenarios whose definitions differ between the runs
    allow_changed: bool = False

    @property
    def regressions(self) -> list[Change]:
        return [c for c in (*self.kpis, *self.percentiles) if c.regressed]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    @property
    def invalid(self) -> bool:
        return bool(self.invalid_runs)

    @property
    def exit_code(self) -> int:
        if self.invalid or (self.changed and not self.allow_changed):
            return EXIT_INVALID
        return EXIT_KPI_FAILED if self.regressed else EXIT_OK


def parse_tolerance(text: str) -> float:
    """ "10%" -> 0.10; "0.1" -> 0.10. A bare number above 1 is refused as ambiguous."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise InputError(f"tolerance {text!r} is not a number; write e.g. 10%") from None
    if not raw.endswith("%") and value > 1:
        raise InputError(f"tolerance {text!r} is ambiguous; write {text}% or a fraction like 0.1")
    if value < 0:
        raise InputError(f"tolerance {text!r} must not be negative")
    return value


def compare_results(
    base: RunResult, new: RunResult, tolerance: float, allow_changed: bool = False
) -> Comparison:
    runs = (("base", base), ("new", new))
    invalid = tuple(label for label, run in runs if run.status == "invalid")
    notes = [
        f"{label} run {run.run.run_id} is INVALID: its numbers are not trustworthy"
        for label, run in runs
        if label in invalid
    ]
    changed = _changed_definitions(base, new)
    notes += [
        f"scenario {name}: its definition differs between the runs (load, faults or KPIs):"
        + (" compared anyway (--allow-changed)" if allow_changed else " no comparison verdict")
        for name in changed
    ]
    return Comparison(
        base_run=base.run.run_id,
        new_run=new.run.run_id,
        tolerance=tolerance,
        kpis=_missing_scenarios(base, new) + _compare_kpis(base, new, tolerance),
        percentiles=_compare_percentiles(base, new, tolerance),
        notes=notes,
        invalid_runs=invalid,
        changed=changed,
        allow_changed=allow_changed,
    )


def _changed_definitions(base: RunResult, new: RunResult) -> tuple[str, ...]:
    """Scenarios in both runs whose recorded definitions differ (both must carry one)."""
    before = {s.name: definition_hash(s.scenario) for s in base.scenarios}
    return tuple(
        s.name
        for s in new.scenarios
        if before.get(s.name) is not None
        and definition_hash(s.scenario) is not None
        and before[s.name] != definition_hash(s.scenario)
    )


def _missing_scenarios(base: RunResult, new: RunResult) -> list[Change]:
    """A baseline scenario the new run did not run: every check it held is gone."""
    ran = {s.name for s in new.scenarios}
    return [
        Change(s.name, "(scenario)", "", None, None, None, True, "scenario missing from new run")
        for s in base.scenarios
        if s.name not in ran
    ]


def _worse_relative(base: float, new: float, higher_is_worse: bool) -> float | None:
    if base == 0:
        return None
    change = (new - base) / abs(base)
    return change if higher_is_worse else -change


def _beyond(
    base: float, new: float, higher_is_worse: bool, unit: str, tol: float
) -> tuple[float | None, bool]:
    """(relative worsening, regressed beyond the tolerance); a zero base by its absolute one."""
    relative = _worse_relative(base, new, higher_is_worse)
    if relative is not None:
        return relative, relative > tol
    worse = (new - base) if higher_is_worse else (base - new)
    return None, worse > ZERO_BASE_TOLERANCE.get(unit, 0.0)


def _kpi_change(
    scenario: str, base: KpiVerdict | None, new: KpiVerdict | None, tol: float
) -> Change:
    kpi = new or base
    assert kpi is not None
    if new is None:  # the new run no longer checks what the baseline held it to
        assert base is not None
        return Change(scenario, kpi.expression, kpi.unit, base.measured, None, None, True,
                      "KPI missing from new run")  # fmt: skip
    if base is None:
        return Change(scenario, kpi.expression, kpi.unit, None, new.measured, None, False,
                      "only in new run")  # fmt: skip
    if base.measured is None or new.measured is None:
        broke = base.passed and not new.passed
        return Change(scenario, kpi.expression, kpi.unit, base.measured, new.measured, None,
                      broke, "nothing measured")  # fmt: skip
    if kpi.comparator == "==":
        # Distance from the required value is what gets worse (e.g. lost messages).
        relative, beyond = _beyond(abs(base.measured - base.threshold),
                                   abs(new.measured - new.threshold), True, kpi.unit, tol)  # fmt: skip
    else:
        relative, beyond = _beyond(base.measured, new.measured, kpi.comparator in ("<", "<="),
                                   kpi.unit, tol)  # fmt: skip
    newly_failing = base.passed and not new.passed
    regressed = newly_failing or beyond
    note = "passed before, fails now" if newly_failing else ""
    if not newly_failing and beyond and relative is None:
        note = f"rose from {base.measured:g} beyond {ZERO_BASE_TOLERANCE.get(kpi.unit, 0.0):g} {kpi.unit}"
    return Change(scenario, kpi.expression, kpi.unit, base.measured, new.measured, relative,
                  regressed, note)  # fmt: skip


def _compare_kpis(base: RunResult, new: RunResult, tol: float) -> list[Change]:
    def index(run: RunResult) -> dict[tuple[str, str], KpiVerdict]:
        return {(s.name, k.expression): k for s in run.scenarios for k in s.kpis}

    before, after = index(base), index(new)
    ran = {s.name for s in new.scenarios}  # a missing scenario is reported once, as a scenario
    keys = [key for key in before if key[0] in ran] + [key for key in after if key not in before]
    return [_kpi_change(s, before.get((s, e)), after.get((s, e)), tol) for s, e in keys]


def endpoint_percentiles(run: RunResult) -> dict[tuple[str, str], dict[float, float]]:
    """(scenario, request name) -> {percentile: ms} over the whole run's merged histogram."""
    encoded: dict[tuple[str, str], list[str]] = defaultdict(list)
    for scenario in run.scenarios:
        for bucket in scenario.series:
            encoded[(scenario.name, bucket.name)].append(bucket.histogram)
    table = {}
    for key, histograms in encoded.items():
        merged = hdr.merge(histograms)
        if merged.get_total_count():
            values = merged.get_percentile_to_value_dict(list(PERCENTILES))  # one pass
            table[key] = {p: v / 1000 for p, v in values.items()}
    return table


def _compare_percentiles(base: RunResult, new: RunResult, tol: float) -> list[Change]:
    before, after = endpoint_percentiles(base), endpoint_percentiles(new)
    ran = {s.name for s in new.scenarios}  # a missing scenario is reported once, as a scenario
    changes = []
    for key in list(before) + [k for k in after if k not in before]:
        scenario, name = key
        for p in PERCENTILES:
            subject = f"p{p:g}({name})"
            old, now = before.get(key, {}).get(p), after.get(key, {}).get(p)
            if old is None or now is None:
                # a baseline endpoint the new run never called: dropped, not faster
                missing = now is None and scenario in ran
                note = "endpoint missing from new run" if now is None else "only in new run"
                changes.append(Change(scenario, subject, "ms", old, now, None, missing, note))
                continue
            relative, regressed = _beyond(old, now, True, "ms", tol)
            changes.append(Change(scenario, subject, "ms", old, now, relative, regressed))
    return changes
