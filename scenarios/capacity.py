"""The capacity search, pure: given a step runner (rate -> verdict), the highest rate whose KPIs
hold (the knee) and the first that broke them.

Step up geometrically from `min_rps` (x `factor`) until a step fails or `max_rps` holds, then
bisect between the last pass and the first fail until they are within the resolution (the
larger of `resolution` x the passing rate and `resolution_rps`). A step is judged with the
evidence rule by its runner; here:
- an INVALID step (host busy, too few slots, too few samples) is run once more; INVALID twice
  is reported and never taken as a pass or a fail: the search bisects below it, and is
  inconclusive (`invalid`) only if no failing rate is found under it (e.g. the generator's
  own ceiling on this machine is below the service's capacity);
- a CLOSE step (a KPI within `close_band` of its threshold, relative) is run once more, and
  passes only if no attempt failed: a knee must be evidence, not one lucky draw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

StepStatus = Literal["pass", "fail", "invalid"]


@dataclass(frozen=True)
class StepVerdict:
    """One run of one step. `margin`: the judged KPIs' smallest headroom as a fraction of
    its threshold (< 0: broken; None: nothing measured). `broke`: the KPI that failed."""

    rate: float
    status: StepStatus
    margin: float | None = None
    broke: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class SearchConfig:
    min_rps: float
    max_rps: float
    factor: float = 2.0
    resolution: float = 0.10  # relative to the passing rate...
    resolution_rps: float = 5.0  # ...or this many rps, whichever is larger
    close_band: float = 0.05  # |margin| within 5 % of the threshold: run it again

    def __post_init__(self) -> None:
        if not 0 < self.min_rps <= self.max_rps:
            raise ValueError(f"expected 0 < min_rps <= max_rps, got {self.min_rps}, {self.max_rps}")
        if self.factor <= 1:
            raise ValueError(f"expected a step-up factor > 1, got {self.factor}")

    def resolved(self, low: float, high: float) -> bool:
        return high - low <= max(self.resolution * low, self.resolution_rps)


@dataclass(frozen=True)
class Judged:
    """A rate's decision from its attempts (1 to 3 runs)."""

    rate: float
    status: StepStatus
    attempts: tuple[StepVerdict, ...]

    @property
    def broke(self) -> str | None:
        return next((a.broke for a in self.attempts if a.status == "fail" and a.broke), None)

    @property
    def reason(self) -> str | None:
        return next((a.reason for a in self.attempts if a.status == "invalid"), None)


@dataclass
class SearchOutcome:
    judged: list[Judged] = field(default_factory=list)
    knee: float | None = None  # the highest passing rate
    first_fail: Judged | None = None  # the lowest failing rate above it
    max_held: bool = False  # max_rps passed: capacity is at least that
    below_min: bool = False  # min_rps already failed
    invalid: Judged | None = None  # the step that left the search inconclusive (INVALID twice)

    @property
    def concluded(self) -> bool:
        return self.invalid is None

    @property
    def runs(self) -> list[StepVerdict]:
        return [a for j in self.judged for a in j.attempts]


def judge(run_step: Callable[[float], StepVerdict], rate: float, config: SearchConfig) -> Judged:
    first = run_step(rate)
    attempts = [first]
    if first.status == "invalid":
        attempts.append(run_step(rate))
    elif first.margin is not None and abs(first.margin) <= config.close_band:
        attempts.append(run_step(rate))  # a close verdict: once more
    decided = [a for a in attempts if a.status != "invalid"]
    if not decided:
        return Judged(rate, "invalid", tuple(attempts))
    status: StepStatus = "fail" if any(a.status == "fail" for a in decided) else "pass"
    return Judged(rate, status, tuple(attempts))


def search(
    run_step: Callable[[float], StepVerdict],
    config: SearchConfig,
    on_judged: Callable[[Judged], None] | None = None,
) -> SearchOutcome:
    """Step up, then bisect; see the module doc."""
    outcome = SearchOutcome()

    def step(rate: float) -> Judged:
        judged = judge(run_step, rate, config)
        outcome.judged.append(judged)
        if on_judged is not None:
            on_judged(judged)
        return judged

    rate = config.min_rps
    ceiling: Judged | None = None  # the lowest INVALID rate above the knee: no verdict there
    while True:
        judged = step(rate)
        if judged.status == "invalid":
            ceiling = judged
            break
        if judged.status == "fail":
            outcome.first_fail = judged
            break
        outcome.knee = rate
        if rate >= config.max_rps:
            outcome.max_held = True
            return outcome
        rate = min(rate * config.factor, config.max_rps)
    if outcome.knee is None:  # min_rps failed, or could not be judged
        outcome.below_min = outcome.first_fail is not None
        outcome.invalid = ceiling
        return outcome
    # bisect below the lowest rate that failed or could not be judged: a fail found there
    # concludes the search without ever reading an INVALID step as a fail
    while True:
        upper = min((j for j in (outcome.first_fail, ceiling) if j), key=lambda j: j.rate)
        if config.resolved(outcome.knee, upper.rate):
            break
        middle = round((outcome.knee + upper.rate) / 2, 1)
        judged = step(middle)
        if judged.status == "pass":
            outcome.knee = middle
        elif judged.status == "fail":
            outcome.first_fail = judged
        else:
            ceiling = judged
    outcome.invalid = upper if upper.status == "invalid" else None
    return outcome
