"""Latency benchmark of the backend at a fixed request rate (open model).

    python -m sut.bench --config FILE [--rate 200] [--duration 15] [--json-out PATH]

Starts `python -m sut --role backend` with FILE (its dependencies must already run; the test
`tests/sut/test_sut_bench.py -m bench` starts local ones), then for each endpoint sends requests
at their intended times (i / rate), never waiting for answers, and measures each latency from its
intended start, so a stalled server shows up as latency rather than as a slower send rate.
Prints a table and a JSON document. Targets: API p95 <= 20 ms, cached dashboard p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from sut.config import SutConfigError, load_sut_settings
from sut.run import die_with_parent

MAX_LAG_MS = 5.0
ENDPOINTS = {
    "GET /api/health": ("/api/health", 20.0),
    "GET /api/items": ("/api/items?limit=20", 20.0),
    "GET /api/dashboard/performance (cached)": ("/api/dashboard/performance?user_id=bench", 50.0),
}


@dataclass
class PhaseResult:
    name: str
    rate_rps: float
    sent: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    max_send_lag_ms: float
    p99_send_lag_ms: float  # how late the generator itself sent; above MAX_LAG_MS the phase is void
    target_p95_ms: float

    @property
    def valid(self) -> bool:
        return self.p99_send_lag_ms <= MAX_LAG_MS

    @property
    def meets_target(self) -> bool:
        return self.valid and self.errors == 0 and self.p95_ms <= self.target_p95_ms


def _quantile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    index = min(len(sorted_ms) - 1, max(0, round(q * len(sorted_ms)) - 1))
    return sorted_ms[index]


async def run_phase(
    client: httpx.AsyncClient, name: str, path: str, rate: float, duration_s: float, target: float
) -> PhaseResult:
    clock = time.perf_counter  # uvloop's loop.time() has millisecond resolution
    count = int(rate * duration_s)
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0

    async def one(intended: float) -> None:
        nonlocal errors
        try:
            response = await client.get(path)
            if response.status_code >= 400:
                errors += 1
        except httpx.HTTPError:
            errors += 1
        latencies.append((clock() - intended) * 1000)

    tasks = set()
    start = clock() + 0.05
    for i in range(count):
        intended = start + i / rate
        # Always yield (sleep(0) when behind) so responses are read while we keep sending.
        await asyncio.sleep(max(0.0, intended - clock()))
        lags.append(max(0.0, clock() - intended) * 1000)
        task = asyncio.create_task(one(intended))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    ordered = sorted(latencies)
    return PhaseResult(
        name=name,
        rate_rps=rate,
        sent=count,
        errors=errors + (count - len(latencies)),
        p50_ms=round(_quantile(ordered, 0.50), 2),
        p95_ms=round(_quantile(ordered, 0.95), 2),
        p99_ms=round(_quantile(ordered, 0.99), 2),
        max_ms=round(ordered[-1], 2) if ordered else float("nan"),
        max_send_lag_ms=round(max(lags, default=0.0), 2),
        p99_send_lag_ms=round(_quantile(sorted(lags), 0.99), 2),
        target_p95_ms=target,
    )


async def bench(base_url: str, rate: float, duration_s: float) -> list[PhaseResult]:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base_url, timeout=5.0, limits=limits) as client:
        results = []
        for name, (path, target) in ENDPOINTS.items():
            await run_phase(client, name, path, rate, 1.0, target)  # warm-up (and fills the cache)
            results.append(await run_phase(client, name, path, rate, duration_s, target))
        return results


def start_backend(config: Path, base_url: str, timeout_s: float) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "sut", "--config", str(config), "--role", "backend"]
    process = subprocess.Popen(argv, preexec_fn=die_with_parent)  # dies with the bench
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base_url}/api/ready", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_backend(process, 5)
            raise RuntimeError(f"backend not ready within {timeout_s}s (exit {process.poll()})")
        time.sleep(0.1)


def stop_backend(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def render(results: list[PhaseResult]) -> str:
    header = f"{'endpoint':42} {'rps':>5} {'sent':>5} {'err':>4} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'lag99':>6}  target p95"
    lines = [header, "-" * len(header)]
    for r in results:
        verdict = "ok" if r.meets_target else "MISSED" if r.valid else "VOID (generator behind)"
        lines.append(
            f"{r.name:42} {r.rate_rps:5.0f} {r.sent:5d} {r.errors:4d} {r.p50_ms:7.2f} {r.p95_ms:7.2f} "
            f"{r.p99_ms:7.2f} {r.max_ms:7.2f} {r.p99_send_lag_ms:6.1f}  <= {r.target_p95_ms:.0f} ms {verdict}"
        )
    return "\n".join(lines) + "\n(latencies in ms from each request's intended send time)"


def run(config: Path, rate: float, duration_s: float) -> dict[str, Any]:
    settings = load_sut_settings(config)
    base_url = f"http://{settings.service.host}:{settings.service.port}"
    backend = start_backend(config, base_url, timeout_s=60)
    try:
        import uvloop  # the generator's own cost (~1 ms CPU per httpx request) must stay small

        results = uvloop.run(bench(base_url, rate, duration_s))
    finally:
        stop_backend(backend, settings.service.shutdown_timeout_s + 2)
    return {
        "rate_rps": rate,
        "duration_s": duration_s,
        "results": [
            asdict(r) | {"valid": r.valid, "meets_target": r.meets_target} for r in results
        ],
        "table": render(results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sut.bench", description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    try:
        report = run(args.config, args.rate, args.duration)
    except SutConfigError as error:
        print(f"sut.bench: {error}", file=sys.stderr)
        return 2
    print(report["table"])
    document = json.dumps({k: v for k, v in report.items() if k != "table"}, indent=2)
    print(document)
    if args.json_out:
        args.json_out.write_text(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
