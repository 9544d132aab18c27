"""Measure the example service through a Postgres outage, directly (no `chaosgate run`).

An open-model sender (one request per tick of a fixed rate, latency from the intended send)
runs while the Postgres proxy is disabled for a while; the summary gives the figures the
pg-down scenario's KPIs judge: errors during and after the outage, and the recovery time.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

OK_LATENCY_S = 0.2  # the scenario's steady-state check: p95(GET /items) < 200 ms
STEADY_S = 3.0  # a recovery is a 3 s run of good requests (chaosgate's recovery_consecutive_s)
TIMEOUT_S = 2.0  # as the pg-down scenario: a request that hangs longer is an error


@dataclass(frozen=True)
class Sample:
    intended_s: float  # from the start of the load
    latency_s: float
    ok: bool


@dataclass(frozen=True)
class OutageFigures:
    baseline_errors: float
    fault_errors: float
    fault_p95_s: float
    recovery_errors: float  # the first 10 s after the heal
    recovery_s: float | None  # heal -> start of the first 3 s of good requests; None: never

    def line(self) -> str:
        recovery = "never" if self.recovery_s is None else f"{self.recovery_s:.2f}s"
        return (
            f"baseline errors {self.baseline_errors:.1%}, fault errors {self.fault_errors:.1%}"
            f" (p95 {self.fault_p95_s * 1000:.0f} ms), errors in the 10 s after heal"
            f" {self.recovery_errors:.1%}, recovery {recovery}"
        )


async def _send(
    client: httpx.AsyncClient, url: str, start: float, at: float, out: list[Sample]
) -> None:
    try:
        response = await client.get(url)
        ok = response.status_code == 200
    except httpx.HTTPError:
        ok = False
    latency = time.monotonic() - (start + at)
    out.append(Sample(at, latency, ok))


async def _load(base_url: str, rps: float, duration_s: float, out: list[Sample]) -> None:
    rng = random.Random(14)
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT_S, limits=limits) as client:
        start, tasks = time.monotonic(), []
        for n in range(int(rps * duration_s)):
            at = n / rps
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            path = "/items" if n % 2 else f"/items/{rng.randint(1, 1000)}"
            tasks.append(asyncio.create_task(_send(client, path, start, at, out)))
        await asyncio.gather(*tasks)


def measure_outage(
    base_url: str,
    cut: Callable[[], None],
    heal: Callable[[], None],
    *,
    rps: float = 50,
    at_s: float = 5,
    for_s: float = 10,
    after_s: float = 10,
) -> tuple[OutageFigures, list[Sample]]:
    """Load for at_s + for_s + after_s seconds; `cut()` at at_s, `heal()` for_s later."""
    samples: list[Sample] = []
    marks: dict[str, float] = {}
    t0 = time.monotonic()

    def faults() -> None:
        time.sleep(max(0.0, t0 + at_s - time.monotonic()))
        marks["cut"] = time.monotonic() - t0
        cut()
        time.sleep(max(0.0, t0 + at_s + for_s - time.monotonic()))
        marks["heal"] = time.monotonic() - t0
        heal()

    thread = threading.Thread(target=faults, daemon=True)
    thread.start()
    asyncio.run(_load(base_url, rps, at_s + for_s + after_s, samples))
    thread.join()
    return summarize(samples, marks["cut"], marks["heal"]), samples


def _good(sample: Sample) -> bool:
    return sample.ok and sample.latency_s < OK_LATENCY_S


def _error_rate(samples: list[Sample]) -> float:
    return sum(not s.ok for s in samples) / len(samples) if samples else float("nan")


def summarize(samples: list[Sample], cut_s: float, heal_s: float) -> OutageFigures:
    ordered = sorted(samples, key=lambda s: s.intended_s)
    fault = [s for s in ordered if cut_s <= s.intended_s < heal_s]
    latencies = sorted(s.latency_s for s in fault) or [0.0]
    after = [s for s in ordered if s.intended_s >= heal_s]
    return OutageFigures(
        baseline_errors=_error_rate([s for s in ordered if s.intended_s < cut_s - 1]),
        fault_errors=_error_rate(fault),
        fault_p95_s=latencies[int(0.95 * (len(latencies) - 1))],
        recovery_errors=_error_rate([s for s in after if s.intended_s < heal_s + 10]),
        recovery_s=_recovery(after, heal_s),
    )


def _recovery(after: list[Sample], heal_s: float) -> float | None:
    """Heal -> the first sample that starts STEADY_S seconds of good samples only."""
    run_start: float | None = None
    for sample in after:
        if not _good(sample):
            run_start = None
            continue
        if run_start is None:
            run_start = sample.intended_s
        if sample.intended_s - run_start >= STEADY_S:
            return max(0.0, run_start - heal_s)
    return None
