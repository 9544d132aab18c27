"""Intended send times of an open-model plan. Pure: no clock, no I/O, no Locust.

The rate profile r(t) is piecewise linear; its integral Λ(t) counts expected arrivals. Arrival k
happens where Λ(t) reaches a target: k + 0.5 for `constant`, a running sum of Exp(1) draws for
`poisson` (a time-rescaled Poisson process, so ramps stay Poisson). Worker i of n takes arrivals
k ≡ i (mod n): every worker draws the same sequence, so the merged schedule of n workers is
exactly the single-process one, with the sends interleaved rather than phase-aligned.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from scenarios.load.plan import LoadPlan, RateStep


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    rate_from: float
    rate_to: float

    @property
    def arrivals(self) -> float:
        return (self.rate_from + self.rate_to) / 2 * (self.end_s - self.start_s)

    def offset_for(self, count: float) -> float:
        """Seconds into the segment at which Λ (from the segment start) reaches `count`."""
        a = self.rate_from
        b = (self.rate_to - self.rate_from) / (self.end_s - self.start_s)
        if abs(b) < 1e-12:
            return count / a
        root = math.sqrt(max(a * a + 2 * b * count, 0.0))
        return (root - a) / b


def segments(steps: list[RateStep]) -> list[Segment]:
    out: list[Segment] = []
    now, rate = 0.0, 0.0
    for step in steps:
        if step.ramp_to_rps is not None:
            target = step.ramp_to_rps
        else:
            target = step.rps if step.rps is not None else rate
            rate = target  # a hold jumps straight to its rate
        if step.duration_s > 0:
            out.append(Segment(now, now + step.duration_s, rate, target))
        now += step.duration_s
        rate = target
    return out


def expected_arrivals(steps: list[RateStep]) -> float:
    return sum(segment.arrivals for segment in segments(steps))


def _targets(arrival: str, seed: int) -> Iterator[float]:
    if arrival == "constant":
        k = 0
        while True:
            yield k + 0.5
            k += 1
    rng = random.Random(seed)
    total = 0.0
    while True:
        total += rng.expovariate(1.0)
        yield total


def offsets(
    steps: list[RateStep], arrival: str, seed: int, index: int = 0, count: int = 1
) -> Iterator[float]:
    """Intended send offsets (seconds from the schedule start) of worker `index` of `count`."""
    segs = [segment for segment in segments(steps) if segment.arrivals > 0]
    if not segs:
        return
    seg_i, done_before = 0, 0.0
    for k, target in enumerate(_targets(arrival, seed)):
        while target > done_before + segs[seg_i].arrivals:
            done_before += segs[seg_i].arrivals
            seg_i += 1
            if seg_i == len(segs):
                return
        if k % count == index:
            segment = segs[seg_i]
            yield segment.start_s + min(
                segment.offset_for(target - done_before), segment.end_s - segment.start_s
            )


def profile(plan: LoadPlan) -> list[RateStep]:
    """The plan's rate steps behind its warm-up: a ramp from 0 to the rate the profile starts
    at (its first step's), so the profile's own first ramp starts there (a ramp goes from the
    current rate: after a warm-up, `ramp_to_rps: 200` at 200 rps is a hold)."""
    if plan.warmup_s <= 0:
        return list(plan.rate)
    first = plan.rate[0].ramp_to_rps or plan.rate[0].rps
    return [RateStep(ramp_to_rps=first, over_s=plan.warmup_s), *plan.rate]


def plan_offsets(plan: LoadPlan, index: int = 0, count: int = 1) -> Iterator[float]:
    """Offsets from the schedule start, the warm-up's included (they come first)."""
    return offsets(profile(plan), plan.arrival, plan.seed, index, count)


def websocket_offsets(plan: LoadPlan, index: int = 0, count: int = 1) -> Iterator[float]:
    """WebSocket messages: constant rate over the whole plan, on their own schedule."""
    if plan.websocket_rps <= 0:
        return iter(())
    steps = [RateStep(rps=plan.websocket_rps, hold_s=plan.total_s)]
    return offsets(steps, "constant", plan.seed, index, count)
