"""The engine's own measurements for `chaosgate bench`: max sustained open-model rate of one
worker, timing fidelity at a known delay, and coordinated-omission correctness at a stall."""

from __future__ import annotations

import json
import math
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hdrh.histogram import HdrHistogram

from reports.hdr import decode, new_histogram
from scenarios.load import LoadOutcome, LoadPlan, LoadRun
from scenarios.load.recorder import clamp_us
from scenarios.load.schedule import plan_offsets


def engine_run(url: str, rps: float, duration_s: float, out: Path, **fields: object) -> LoadOutcome:
    plan = LoadPlan(
        users=["ping"], rate=[{"rps": rps, "hold_s": duration_s}], arrival="poisson",
        drain_s=2, **fields,
    )  # fmt: skip
    return LoadRun(plan, url, time.time(), out, progress=False).start().wait()


# "Keeps up" for the rate search: a machine shared with other work delays any process by tens
# of ms now and then (measured: lag p99 30-100 ms at load average 10 on 2 cores, at any rate);
# falling behind shows as lag growing to seconds. Runs and gates keep their own tolerance.
SEARCH_TOLERANCE_MS = 100.0


@dataclass
class MaxRate:
    rps: float  # the highest rate held validly
    rss_mb: float
    cpu_us_per_request: float  # at that rate
    cpu_percent: float  # the worker's median CPU at that rate: the share it still held at
    tried: list[tuple[float, bool, str]]  # (rate, valid, reason)


def max_sustained_rate(url: str, duration_s: float, out: Path, start_rps: float = 1000) -> MaxRate:
    """Double the rate until the run turns invalid, then bisect twice between the last two."""
    tried: list[tuple[float, bool, str]] = []
    rss = 0.0
    cpu_at: dict[float, tuple[float, float]] = {}

    def attempt(rps: float) -> bool:
        nonlocal rss
        outcome = engine_run(
            url,
            rps,
            duration_s,
            out / f"rate-{rps:g}",
            concurrency=100,
            tolerance_ms=SEARCH_TOLERANCE_MS,
        )
        health = outcome.generator
        rss = max(rss, health.rss_mb_max)
        tried.append((rps, health.valid, health.reason or ""))
        cpu_at[rps] = (outcome.cpu_us_per_request, outcome.cpu_percent_median)
        return health.valid

    good, bad = 0.0, start_rps
    if attempt(start_rps):
        good, bad = start_rps, start_rps * 2
        while bad <= 64_000 and attempt(bad):
            good, bad = bad, bad * 2
    else:  # a slow or busy machine: look below the first guess
        while bad >= 100 and not good:
            bad /= 2
            if attempt(bad):
                good, bad = bad, bad * 2
    for _ in range(2):
        middle = round((good + bad) / 2, -1)
        if attempt(middle):
            good = middle
        else:
            bad = middle
    us, percent = cpu_at.get(good, (0.0, 0.0))
    return MaxRate(good, rss, us, percent, tried)


def _held_p50_ms(url: str) -> float:
    with urllib.request.urlopen(f"{url}/_count", timeout=10) as response:
        return float(json.loads(response.read())["held_p50_ms"])


def fidelity_error_ms(url_0: str, url_delay: str, out: Path) -> tuple[float, float, float]:
    """(|measured p50 shift - true shift|, measured shift, true shift). The true shift is how
    long the servers say they really held the responses (their timers are not exact either)."""
    base = engine_run(url_0, 200, 3, out / "fidelity-0").percentile_ms(50)
    delayed = engine_run(url_delay, 200, 3, out / "fidelity-d").percentile_ms(50)
    shift = delayed - base
    true_shift = _held_p50_ms(url_delay) - _held_p50_ms(url_0)
    return abs(shift - true_shift), shift, true_shift


@dataclass
class CoResult:
    measured_p99_ms: float
    true_p99_ms: float
    closed_loop_p99_ms: float

    @property
    def error_pct(self) -> float:
        return abs(self.measured_p99_ms - self.true_p99_ms) / self.true_p99_ms * 100


@dataclass
class StalledRun:
    plan: LoadPlan
    outcome: LoadOutcome
    stall_start: float
    stall_end: float


def _stalled_run(url: str, out: Path, concurrency: int, stall_ms: float) -> StalledRun:
    """200 rps for 6 s with `concurrency` users, one stall of `stall_ms` ~2 s in."""
    plan = LoadPlan(
        users=["ping"], rate=[{"rps": 200, "hold_s": 6}], arrival="constant",
        concurrency=concurrency, tolerance_ms=150, drain_s=3,
    )  # fmt: skip
    run = LoadRun(plan, url, time.time(), out, progress=False).start()
    deadline = time.time() + 60
    while (view := run.latest_second()) is None or view.second < 2:
        if time.time() > deadline:
            break
        time.sleep(0.05)
    with urllib.request.urlopen(f"{url}/_stall?ms={stall_ms:g}", timeout=10) as response:
        window = json.loads(response.read())
    return StalledRun(plan, run.wait(), window["start"], window["end"])


def coordinated_omission(url: str, out: Path, stall_ms: float = 1000) -> CoResult:
    """The true latency of every scheduled send follows from the schedule and the stall window;
    compare p99s. The closed-loop figure comes from a second run with 2 users: during the stall
    it is a closed loop, and timing from the real start (what a closed loop reports) hides it."""
    open_run = _stalled_run(url, out / "open", 400, stall_ms)
    outcome = open_run.outcome
    base_s = outcome.percentile_ms(50) / 1000  # the unstalled latency (server + loopback)
    assert outcome.started_at is not None, "the load never started"
    truth = true_latencies(
        open_run.plan, outcome.started_at, open_run.stall_start, open_run.stall_end, base_s
    )
    closed = _stalled_run(url, out / "closed", 2, stall_ms).outcome
    return CoResult(
        measured_p99_ms=outcome.percentile_ms(99),
        true_p99_ms=truth.get_value_at_percentile(99) / 1000,
        closed_loop_p99_ms=decode(closed.service_time["GET /ping"]).get_value_at_percentile(99)
        / 1000,
    )


def true_latencies(
    plan: LoadPlan, start_at: float, stall_start: float, stall_end: float, base_s: float
) -> HdrHistogram:
    """A send intended at t is answered at t + base, unless that falls inside the stall: then at its end."""
    truth = new_histogram()
    for offset in plan_offsets(plan):
        t = start_at + offset
        done = t + base_s
        latency = stall_end - t if stall_start <= done < stall_end else base_s
        truth.record_value(clamp_us(max(latency, base_s)))
    return truth


def percent_or_none(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 2)
