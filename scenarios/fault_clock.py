"""Each fault's clock in the result: injected, removed, detected, recovered (`reports.recovery`).

Injected: when the runner issued the inject command. Removed: the fault's own `fault.remove`
(journaled as its undo is issued; for `restart` the start command, for flapping the last
switch-off), else when the runner began undoing it. The search for recovery ends at the next
fault's injection; a measure that found none before it names that fault in `cut_short_by`.
"""

from __future__ import annotations

from collections.abc import Sequence

from reports.model import Event, ProbeSample, RecoveryMeasure, SliceBucket
from reports.recovery import detect, recovered_at
from scenarios.schema import FaultStep, Scenario

Times = dict[str, tuple[float, float | None]]  # fault name -> (injected, removed) in scenario s


def removed_at(
    events: Sequence[Event], name: str, injected: float, undo_issued: float | None
) -> float | None:
    """The fault's last `fault.remove` since its injection, else `undo_issued`."""
    removals = [
        e.t_s
        for e in events
        if e.kind == "fault.remove" and e.target == name and e.t_s >= round(injected, 3)
    ]
    return max(removals) if removals else undo_issued


def measure(
    scenario: Scenario,
    step: FaultStep,
    times: Times,
    events: Sequence[Event],
    series: Sequence[SliceBucket],
    probes: Sequence[ProbeSample],
    end_s: float,
    *,
    in_flight_until_s: float | None = None,
    detecting: bool = True,
) -> RecoveryMeasure | None:
    """One fault's measure; None when it never ran."""
    if step.name not in times:
        return None
    injected, removed = times[step.name]
    if removed is None:  # undone while unwinding (an abort): its own journal says when
        removed = removed_at(events, step.name, injected, None)
    later = sorted((t[0], name) for name, t in times.items() if t[0] > injected)
    search_end = min(later[0][0], end_s) if later else end_s
    checks = scenario.steady_checks()
    recovered = None
    if checks and removed is not None:
        recovered = recovered_at(
            checks,
            series,
            probes,
            removed,
            search_end,
            scenario.recovery_consecutive_s,
            in_flight_until_s=in_flight_until_s,
        )
    removed = removed if removed is not None else end_s
    until = recovered if recovered is not None else max(search_end, removed)
    found = (
        detect(probes, injected, until, step.detect_dependency, checks, series)
        if detecting
        else None
    )
    restarted = next(
        (e for e in events if e.kind == "fault.restarted" and e.target == step.name), None
    )
    restart_s = restarted.attributes.get("restart_s") if restarted else None
    return RecoveryMeasure(
        fault=step.name,
        injected_at_s=round(injected, 3),
        removed_at_s=round(removed, 3),
        detected_at_s=None if found is None else found.at_s,
        detected_by=None if found is None else found.signal,
        recovered_at_s=recovered,
        search_end_s=round(search_end, 3),
        cut_short_by=later[0][1] if later and later[0][0] <= end_s and recovered is None else None,
        restart_s=float(restart_s) if isinstance(restart_s, int | float) else None,
    )
