"""Fault schedules for `chaosgate explore`: generated from the catalog, seeded, pure.

A `Space` is what may be generated: the catalog's kinds (discovered from `fixtures.faults`; the
composites `flapping` and `overlap` are not drawn, overlaps are made from the timing) times the
stack's targets (proxies for proxy kinds, processes for process kinds), each numeric attribute
within its stated `RANGES` entry, start times inside the window the scenario leaves for faults,
durations within [min_for_s, max_for_s], and up to `max_overlap` faults active at once (never
two at once on one target: two toxics of one type on one proxy would collide).

`generate(space, seed)` yields schedules in an order fixed by the seed alone (never by verdicts):
each one is the candidate, of `CANDIDATES` drawn, that exercises the most (kind, target,
overlap) cells not yet covered, so a short budget still spreads over the catalog.
"""

from __future__ import annotations

import dataclasses
import random
import typing
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from fixtures.faults import REGISTRY

Scalar = int | float | str | bool
RECOVERY_S = 30.0  # the plan's promise: recovery < 30 s after every fault
CANDIDATES = 8  # drawn per schedule; the one covering the most new cells is kept
TIME_STEP_S = 0.5  # start times and durations are multiples of this (readable scenarios)
COMPOSITES = ("flapping", "overlap")
# A fault's target must not be the harness's own: killing Toxiproxy stops all injection.
NEVER_TARGETS = ("toxiproxy",)


@dataclass(frozen=True)
class Range:
    """A numeric attribute's stated range; `mild` is the end that weakens the fault."""

    low: float
    high: float
    mild: Literal["low", "high"]
    integer: bool = True

    def draw(self, rng: random.Random) -> Scalar:
        value = rng.uniform(self.low, self.high)
        return round(value) if self.integer else round(value, 2)

    def weaker(self, value: float) -> Scalar | None:
        """Halfway to the mild end (None when already there or next to it)."""
        end = self.low if self.mild == "low" else self.high
        moved = (value + end) / 2
        moved = round(moved) if self.integer else round(moved, 2)
        return (
            None if moved == value or abs(moved - value) < (1 if self.integer else 0.01) else moved
        )


# Stated ranges: a kind's numeric attributes, drawn within these. Attributes not listed keep
# their defaults; a kind with a REQUIRED attribute not listed here is not drawn (reported).
RANGES: dict[str, dict[str, Range]] = {
    "latency": {"latency_ms": Range(50, 2000, "low")},
    "bandwidth": {"rate_kbps": Range(1, 200, "high")},
    "slow_close": {"delay_ms": Range(100, 3000, "low")},
    "limit_data": {"limit_bytes": Range(500, 100_000, "high")},
    "reset_peer": {"timeout_ms": Range(0, 1000, "high")},
    "slicer": {"average_size_bytes": Range(1, 64, "high"), "delay_us": Range(0, 2000, "low")},
    "timeout": {"timeout_ms": Range(0, 0, "low")},  # 0: hold forever (a blackhole)
}


@dataclass(frozen=True)
class Planned:
    """One fault of a schedule (times in scenario seconds)."""

    kind: str
    target: str
    at_s: float
    for_s: float
    attributes: tuple[tuple[str, Scalar], ...] = ()

    @property
    def end_s(self) -> float:
        return self.at_s + self.for_s

    def overlaps(self, other: Planned) -> bool:
        return self.at_s < other.end_s and other.at_s < self.end_s

    def describe(self) -> str:
        given = ",".join(f"{k}={v}" for k, v in self.attributes)
        return (
            f"{self.target}:{self.kind}{':' + given if given else ''}@{self.at_s:g}+{self.for_s:g}s"
        )


@dataclass(frozen=True)
class Schedule:
    faults: tuple[Planned, ...]

    def describe(self) -> str:
        return "; ".join(f.describe() for f in self.faults) or "(no fault)"

    def degree(self, fault: Planned) -> int:
        """How many faults (itself included) are active together with `fault` at most."""
        points = [fault.at_s, *(f.at_s for f in self.faults if f.overlaps(fault))]
        return max(sum(1 for f in self.faults if f.at_s <= t < f.end_s) for t in points)

    def cells(self) -> set[tuple[str, str, int]]:
        """The coverage cells it exercises: (kind, target, overlap degree)."""
        return {(f.kind, f.target, self.degree(f)) for f in self.faults}

    def clusters(self, recovery_s: float = RECOVERY_S) -> list[list[Planned]]:
        """Faults grouped, in time order, where one starts before the group's last removal is
        `recovery_s` old (overlapping, or inside its recovery window): each group is one step,
        its recovery measured from its last removal. Apart, the next fault would cut the previous
        one's recovery measurement short of the time the promise gives it."""
        groups: list[list[Planned]] = []
        for fault in sorted(self.faults, key=lambda f: (f.at_s, f.target)):
            if groups and fault.at_s < max(f.end_s for f in groups[-1]) + recovery_s:
                groups[-1].append(fault)
            else:
                groups.append([fault])
        return groups


@dataclass(frozen=True)
class Space:
    """What may be generated. `start_s`/`end_s`: the window faults live in (scenario seconds)."""

    kinds: dict[str, tuple[str, ...]]  # kind -> its targets
    start_s: float
    end_s: float
    min_for_s: float = 3.0
    max_for_s: float = 15.0
    max_faults: int = 3
    max_overlap: int = 3
    recovery_s: float = RECOVERY_S  # the promise every fault is judged on (groups the steps)
    skipped: tuple[str, ...] = field(default=())  # kinds not drawn, with why

    def pairs(self) -> list[tuple[str, str]]:
        return [
            (kind, target) for kind, targets in sorted(self.kinds.items()) for target in targets
        ]

    def allows(self, schedule: Schedule) -> bool:
        """Inside the window, within the bounds, at most `max_overlap` at once (and per step,
        one `overlap` step holding at most 3), never two at once on one target."""
        faults = schedule.faults
        if not 1 <= len(faults) <= self.max_faults:
            return False
        for index, fault in enumerate(faults):
            if fault.at_s < self.start_s or fault.end_s > self.end_s or fault.for_s < 1.0:
                return False
            if any(fault.overlaps(o) and o.target == fault.target for o in faults[index + 1 :]):
                return False
            if schedule.degree(fault) > self.max_overlap:
                return False
        return all(len(group) <= 3 for group in schedule.clusters(self.recovery_s))

    def probe(self, kind: str, target: str) -> Schedule:
        """One fault of `kind` on `target` at the window's start, its attributes at their mild
        end, as short as the space allows: what a run of this space is checked on."""
        for_s = min(self.min_for_s, self.end_s - self.start_s)
        return Schedule((Planned(kind, target, self.start_s, for_s, mild_attributes(kind)),))

    def all_cells(self) -> set[tuple[str, str, int]]:
        most = min(self.max_overlap, self.max_faults, 3)
        return {(k, t, d) for k, t in self.pairs() for d in range(1, most + 1)}


def required(kind: str) -> list[str]:
    cls = REGISTRY[kind]
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.name != "target"
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]


def space_for(proxies: Sequence[str], services: Sequence[str], start_s: float, end_s: float, *,
              kinds: Sequence[str] = (), targets: Sequence[str] = (), **bounds: float) -> Space:  # fmt: skip
    """The catalog over these targets, narrowed to `kinds` / `targets` when given."""
    found: dict[str, tuple[str, ...]] = {}
    skipped = []
    for kind in sorted(REGISTRY):
        if kind in COMPOSITES or (kinds and kind not in kinds):
            continue
        missing = [name for name in required(kind) if name not in RANGES.get(kind, {})]
        if missing:
            skipped.append(f"{kind}: no stated range for {', '.join(missing)}")
            continue
        pool = proxies if REGISTRY[kind].targets == "proxy" else services
        chosen = tuple(t for t in pool if t not in NEVER_TARGETS and (not targets or t in targets))
        if chosen:
            found[kind] = chosen
    numbers = {
        k: (int(v) if k in ("max_faults", "max_overlap") else float(v)) for k, v in bounds.items()
    }
    return Space(found, start_s, end_s, skipped=tuple(skipped), **numbers)  # type: ignore[arg-type]


def _snap(seconds: float) -> float:
    return round(seconds / TIME_STEP_S) * TIME_STEP_S


def mild_attributes(kind: str) -> tuple[tuple[str, Scalar], ...]:
    """A kind's stated attributes at their mild end: a fault that builds without a draw."""
    hints = typing.get_type_hints(REGISTRY[kind])
    found: list[tuple[str, Scalar]] = []
    for name, r in sorted(RANGES.get(kind, {}).items()):
        end = r.low if r.mild == "low" else r.high
        if name in hints:
            found.append((name, round(end) if r.integer else end))
    return tuple(found)


def _draw_fault(space: Space, rng: random.Random, pair: tuple[str, str]) -> Planned:
    kind, target = pair
    ranges = RANGES.get(kind, {})
    hints = typing.get_type_hints(REGISTRY[kind])
    attributes = tuple((name, r.draw(rng)) for name, r in sorted(ranges.items()) if name in hints)
    longest = min(space.max_for_s, space.end_s - space.start_s)
    for_s = _snap(rng.uniform(min(space.min_for_s, longest), longest))
    at_s = _snap(rng.uniform(space.start_s, space.end_s - for_s))
    at_s = min(max(at_s, space.start_s), space.end_s - for_s)
    return Planned(kind, target, at_s, for_s, attributes)


def _candidate(space: Space, rng: random.Random) -> Schedule | None:
    pairs = space.pairs()
    count = rng.randint(1, space.max_faults)
    faults = tuple(_draw_fault(space, rng, rng.choice(pairs)) for _ in range(count))
    schedule = Schedule(tuple(sorted(faults, key=lambda f: (f.at_s, f.target))))
    return schedule if space.allows(schedule) else None


def generate(space: Space, seed: int) -> Iterator[Schedule]:
    """Schedules forever, the same sequence for the same seed and space."""
    rng = random.Random(seed)
    covered: Counter[tuple[str, str, int]] = Counter()
    if not space.pairs():
        return
    misses = 0
    while misses < 50:  # a space that allows (almost) nothing ends the sequence
        drawn = [c for _ in range(CANDIDATES * 4) if (c := _candidate(space, rng)) is not None]
        drawn = drawn[:CANDIDATES]
        if not drawn:
            misses += 1
            continue
        misses = 0
        best = max(drawn, key=lambda s: (len(s.cells() - set(covered)), -drawn.index(s)))
        covered.update(best.cells())
        yield best
