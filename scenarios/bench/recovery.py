"""Recovery accuracy for `chaosgate bench`: a server whose outage heals exactly X s after the
fault's "removal", several X that are not whole seconds, measured by the real load engine and
the real recovery computation. `recovery_error_s` = max |measured - X| (target <= SLICE_S)."""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from reports.kpi_parse import parse_kpi
from reports.recovery import recovered_at
from scenarios.load import LoadPlan, LoadRun

TRUTHS_S = (0.4, 1.3, 2.7)  # heal this long after removal; off the slice grid on purpose
FAULT_S = 1.0  # failing before the removal
CONSECUTIVE_S = 1.0  # K healthy seconds to call it recovered
RATE_RPS = 200.0  # 50 requests per slice: one slice's error rate is well measured
STEADY = "error_rate(GET /ping) < 5%"


@dataclass
class Outage:
    injected_s: float  # scenario clock (seconds from the run's t0)
    removed_s: float
    heals_after_s: float  # the truth


@dataclass
class RecoveryAccuracy:
    outages: list[Outage]
    measured_s: list[float | None] = field(default_factory=list)
    generator_valid: bool = True
    generator_reason: str | None = None

    @property
    def error_s(self) -> float | None:
        """max |measured - truth|; None when an outage was never seen to recover."""
        if not self.measured_s or any(m is None for m in self.measured_s):
            return None
        return max(
            abs(m - o.heals_after_s)
            for m, o in zip(self.measured_s, self.outages, strict=True)
            if m is not None
        )


def _fail(url: str, seconds: float) -> tuple[float, float]:
    with urllib.request.urlopen(f"{url}/_fail?ms={seconds * 1000:.0f}", timeout=10) as response:
        window = json.loads(response.read())
    return float(window["start"]), float(window["end"])


def recovery_accuracy(
    url: str, out: Path, truths_s: tuple[float, ...] = TRUTHS_S
) -> RecoveryAccuracy:
    """One load run at RATE_RPS with one outage per truth, then recovery measured per outage."""
    spacing = [FAULT_S + x + CONSECUTIVE_S + 1.0 for x in truths_s]
    plan = LoadPlan(
        users=["ping"], rate=[{"rps": RATE_RPS, "hold_s": sum(spacing) + 3}], arrival="constant",
        concurrency=50, tolerance_ms=150, drain_s=2,
    )  # fmt: skip
    t0 = time.time()
    run = LoadRun(plan, url, t0, out, progress=False).start()
    deadline = time.time() + 60
    while (view := run.latest_second()) is None or view.count == 0:
        if time.time() > deadline:
            break
        time.sleep(0.05)
    outages = []
    for truth, gap in zip(truths_s, spacing, strict=True):
        start, end = _fail(url, FAULT_S + truth)  # the server heals at `end`, exactly
        outages.append(Outage(start - t0, end - truth - t0, truth))
        time.sleep(max(start + gap - time.time(), 0.0))
    outcome = run.wait()
    checks = [parse_kpi(STEADY)]
    result = RecoveryAccuracy(
        outages, generator_valid=outcome.generator.valid, generator_reason=outcome.generator.reason
    )
    for index, outage in enumerate(outages):
        # as the runner does: the search ends at the next fault's injection
        end = outages[index + 1].injected_s if index + 1 < len(outages) else float("inf")
        found = recovered_at(checks, outcome.series, [], outage.removed_s, end, CONSECUTIVE_S)
        result.measured_s.append(None if found is None else round(found - outage.removed_s, 3))
    return result
