"""Shrinking a failing schedule, pure: the runs are the caller's (`fails`).

Greedy, one change at a time, in the order that removes the most: drop a fault, shorten one
(halve its duration, down to MIN_FOR_S), move one (to the window's start, or onto another
fault's start: a plainer schedule), weaken an attribute (halfway to its range's mild end). A
change is KEPT only if the schedule still fails the same way (`fails(candidate)` says so: the
caller runs it); a pass over every change that keeps nothing ends the shrink. `stop()` (the
budget) ends it early with the smallest failing schedule so far. Every tried step is recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from scenarios.explore import RANGES, Planned, Schedule, Space

MIN_FOR_S = 2.0
MAX_TRIES = 40  # changes tried per shrink, at most (each one a run)


@dataclass(frozen=True)
class Tried:
    change: str
    schedule: Schedule
    kept: bool


@dataclass(frozen=True)
class Shrunk:
    minimal: Schedule
    path: tuple[Tried, ...]
    complete: bool  # False: the budget (or MAX_TRIES) ended it before a pass kept nothing


def _replace(schedule: Schedule, index: int, fault: Planned | None) -> Schedule:
    faults = list(schedule.faults)
    if fault is None:
        del faults[index]
    else:
        faults[index] = fault
    return Schedule(tuple(sorted(faults, key=lambda f: (f.at_s, f.target))))


def changes(schedule: Schedule, space: Space) -> Iterator[tuple[str, Schedule]]:
    """Every one-step simplification of `schedule` the space allows, most removing first."""
    faults = schedule.faults
    if len(faults) > 1:
        for i, f in enumerate(faults):
            yield f"drop {f.describe()}", _replace(schedule, i, None)
    for i, f in enumerate(faults):
        shorter = max(MIN_FOR_S, round(f.for_s / 2 * 2) / 2)
        if shorter < f.for_s:
            yield f"shorten {f.describe()} to {shorter:g}s", _replace(schedule, i, dataclasses.replace(f, for_s=shorter))  # fmt: skip
    for i, f in enumerate(faults):
        starts = sorted({space.start_s, *(o.at_s for o in faults if o is not f)})
        for at in starts:
            if at < f.at_s:
                yield f"move {f.describe()} to {at:g}s", _replace(schedule, i, dataclasses.replace(f, at_s=at))  # fmt: skip
    for i, f in enumerate(faults):
        ranges = RANGES.get(f.kind, {})
        for position, (name, value) in enumerate(f.attributes):
            if name not in ranges or isinstance(value, bool | str):
                continue
            weaker = ranges[name].weaker(value)
            if weaker is None:
                continue
            given = list(f.attributes)
            given[position] = (name, weaker)
            yield f"weaken {f.describe()}: {name}={weaker}", _replace(schedule, i, dataclasses.replace(f, attributes=tuple(given)))  # fmt: skip


def shrink(schedule: Schedule, space: Space, fails: Callable[[Schedule], bool],
           stop: Callable[[], bool] = lambda: False) -> Shrunk:  # fmt: skip
    """The smallest schedule reached from `schedule` (which fails) by kept changes."""
    current, path = schedule, list[Tried]()
    tried: set[Schedule] = {schedule}
    while True:
        kept = False
        for change, candidate in changes(current, space):
            if candidate in tried or not space.allows(candidate):
                continue
            if stop() or len(path) >= MAX_TRIES:
                return Shrunk(current, tuple(path), complete=False)
            tried.add(candidate)
            failed = fails(candidate)
            path.append(Tried(change, candidate, failed))
            if failed:
                current, kept = candidate, True
                break  # start again from the smaller schedule: its changes differ
        if not kept:
            return Shrunk(current, tuple(path), complete=True)
