"""Compare a new run with a baseline run: per KPI and per endpoint percentile, what changed
and whether it regressed beyond a tolerance. `chaosgate run --baseline` calls `compare_results`.

Direction comes from the KPI's comparator (`<` means higher is worse); latency percentiles are
always higher-is-worse. A KPI that passed in the baseline and fails now is a regression whatever
the tolerance, and so is a scenario or KPI of the baseline that the new run lacks (a gate that
silently drops a check must not read as "no regression"). When either run is INVALID there is
no verdict to draw: the comparison exits 3, like the run itself. Percentiles are read from the whole run's merged HDR histogram per endpoint, so
they are exact to HDR precision, never averages of per-second percentiles.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from chaosgate.errors import EXIT_INVALID, EXIT_KPI_FAILED, EXIT_OK, InputError
from reports import hdr
from reports.model import KpiVerdict, RunResult

PERCENTILES = (50.0, 95.0, 99.0)


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
        if self.invalid:
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


def compare_results(base: RunResult, new: RunResult, tolerance: float) -> Comparison:
    runs = (("base", base), ("new", new))
    invalid = tuple(label for label, run in runs if run.status == "invalid")
    notes = [
        f"{label} run {run.run.run_id} is INVALID: its numbers are not trustworthy"
        for label, run in runs
        if label in invalid
    ]
    return Comparison(
        base_run=base.run.run_id,
        new_run=new.run.run_id,
        tolerance=tolerance,
        kpis=_missing_scenarios(base, new) + _compare_kpis(base, new, tolerance),
        percentiles=_compare_percentiles(base, new, tolerance),
        notes=notes,
        invalid_runs=invalid,
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
        relative = _worse_relative(abs(base.measured - base.threshold),
                                   abs(new.measured - new.threshold), True)  # fmt: skip
    else:
        relative = _worse_relative(base.measured, new.measured, kpi.comparator in ("<", "<="))
    newly_failing = base.passed and not new.passed
    regressed = newly_failing or (relative is not None and relative > tol)
    note = "passed before, fails now" if newly_failing else ""
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
    changes = []
    for key in list(before) + [k for k in after if k not in before]:
        scenario, name = key
        for p in PERCENTILES:
            subject = f"p{p:g}({name})"
            old, now = before.get(key, {}).get(p), after.get(key, {}).get(p)
            if old is None or now is None:
                note = f"only in {'new' if old is None else 'base'} run"
                changes.append(Change(scenario, subject, "ms", old, now, None, False, note))
                continue
            relative = _worse_relative(old, now, True)
            regressed = relative is not None and relative > tol
            changes.append(Change(scenario, subject, "ms", old, now, relative, regressed))
    return changes
