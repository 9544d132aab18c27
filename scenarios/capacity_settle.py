"""Between capacity steps: the SUT back at its idle latency before the next step is judged.

A step above the knee leaves a backlog in the SUT (queued requests, abandoned ones it still
serves, a breaker open); the next step would be judged on that backlog, not on its own rate
(CI saw it: after a 200 rps step a 100 rps service answered every later step in 5 s). After a
step that failed or was INVALID, short probes at the search's lowest rate run until their
median latency is back within SETTLE_FACTOR x the first step's (or SETTLE_FLOOR_MS above it)
with no more errors than then; if that takes longer than `timeouts.settle_s`, the next step is
INVALID with that reason (never a FAIL: the SUT's rate was not the cause).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from scenarios.capacity import StepVerdict
from scenarios.capacity_step import Point

SETTLE_FACTOR = 2.0  # the probe's p50 within 2x the idle p50...
SETTLE_FLOOR_MS = 5.0  # ...or 5 ms above it, whichever is larger (a 1 ms SUT's jitter)
SETTLE_ERRORS = 0.01  # ...and its error share within 1 point of the idle one
PROBE_HOLD_S = 3.0  # judged seconds of one probe (a median needs little)


@dataclass(frozen=True)
class Idle:
    """What the first passing step measured: the SUT at rest."""

    p50_ms: float
    error_rate: float

    def holds(self, probe: Point) -> bool:
        if probe.p50_ms is None:
            return False
        bound = max(SETTLE_FACTOR * self.p50_ms, self.p50_ms + SETTLE_FLOOR_MS)
        return probe.p50_ms <= bound and probe.error_rate <= self.error_rate + SETTLE_ERRORS


def settle(idle: Idle, probe: Callable[[], Point], deadline_s: float, after: float,
           rate: float, clock: Callable[[], float] = time.monotonic) -> StepVerdict | None:  # fmt: skip
    """Probe until the SUT is idle again: None when it is, else the INVALID verdict for the
    step at `rate` (`after`: the rate of the step that left the backlog)."""
    start = clock()
    last: Point | None = None
    while True:
        last = probe()
        if idle.holds(last):
            return None
        if clock() - start >= deadline_s:
            break
    seen = "nothing measured" if last.p50_ms is None else f"p50 {last.p50_ms:.1f} ms"
    return StepVerdict(
        rate,
        "invalid",
        reason=f"the SUT had not settled {deadline_s:g} s after the step at {after:g} rps "
        f"(probe {seen}, errors {last.error_rate:.1%}; idle p50 {idle.p50_ms:.1f} ms, errors "
        f"{idle.error_rate:.1%}): the step would be judged on the backlog; timeouts.settle_s",
    )
