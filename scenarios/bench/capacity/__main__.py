"""The SUT's capacity on this machine: the rate at which p95(GET /api/items) crosses 200 ms.

    python -m scenarios.bench.capacity [--scenario RAMP.yaml] [--result RESULT.json] [--out DIR] [--threshold-ms 200]

Runs `chaosgate run scenarios/bench/capacity/ramp.yaml --stack local` (the release gate's stack, proxies,
load engine and user mix, stepped up every few seconds, no fault) unless given a result, then
prints each step's p95/p99 for the request name, and the capacity: the highest step still under
the threshold (the first one over it is where it crosses). Needs the harness checkout (it reads
the harness's result JSON), not just the SUT.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from reports.hdr import merge
from reports.model import RunResult
from scenarios.load.plan import parse_duration

RAMP = Path(__file__).with_name("ramp.yaml")
SETTLE_S = 2  # the first seconds of a step still drain the previous one


@dataclass(frozen=True)
class Step:
    rps: float
    start_s: int
    end_s: int
    count: int = 0
    errors: int = 0
    p95_ms: float | None = None
    p99_ms: float | None = None


def steps_of(scenario: Path) -> list[Step]:
    plan = yaml.safe_load(scenario.read_text())["load"]["rate"]
    steps, t = [], 0
    for item in plan:
        length = int(parse_duration(item["hold_s"]))
        steps.append(Step(float(item["rps"]), t, t + length))
        t += length
    return steps


def measure(result: RunResult, steps: list[Step], name: str) -> list[Step]:
    series = [b for b in result.scenarios[0].series if b.name == name]
    out = []
    for step in steps:
        window = [b for b in series if step.start_s + SETTLE_S <= b.start_s < step.end_s]
        if not window:
            out.append(step)
            continue
        histogram = merge(b.histogram for b in window)
        out.append(
            Step(
                step.rps,
                step.start_s,
                step.end_s,
                count=sum(b.count for b in window),
                errors=sum(b.errors for b in window),
                p95_ms=histogram.get_value_at_percentile(95) / 1000,
                p99_ms=histogram.get_value_at_percentile(99) / 1000,
            )
        )
    return out


def capacity(steps: list[Step], threshold_ms: float) -> float | None:
    """The highest rate whose p95 stayed under the threshold, up to the first step over it."""
    best = None
    for step in steps:
        if step.p95_ms is None or step.p95_ms >= threshold_ms:
            break
        best = step.rps
    return best


def _run_ramp(scenario: Path, out: Path) -> Path:
    before = set(out.glob("*/result.json"))
    argv = [sys.executable, "-m", "chaosgate", "run", str(scenario), "--stack", "local"]
    subprocess.run([*argv, "--out", str(out)], check=False)
    found = sorted(set(out.glob("*/result.json")) - before, key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(f"no result.json written under {out}")
    return found[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.bench.capacity", description=__doc__)
    parser.add_argument("--result", type=Path, help="analyse this result.json instead of running")
    parser.add_argument("--scenario", type=Path, default=RAMP, help="a ramp of {rps, hold_s} steps")
    parser.add_argument("--out", type=Path, default=Path("reports/runs/capacity"))
    parser.add_argument("--name", default="GET /api/items")
    parser.add_argument("--threshold-ms", type=float, default=200.0)
    args = parser.parse_args(argv)
    path = args.result or _run_ramp(args.scenario, args.out)
    result = RunResult.model_validate_json(path.read_text())
    steps = measure(result, steps_of(args.scenario), args.name)
    print(f"{'rps':>6} {'count':>6} {'errors':>6} {'p95 ms':>8} {'p99 ms':>8}   ({args.name})")
    for s in steps:
        p95 = f"{s.p95_ms:8.1f}" if s.p95_ms is not None else f"{'-':>8}"
        p99 = f"{s.p99_ms:8.1f}" if s.p99_ms is not None else f"{'-':>8}"
        print(f"{s.rps:6.0f} {s.count:6d} {s.errors:6d} {p95} {p99}")
    found = capacity(steps, args.threshold_ms)
    print(
        f"capacity: {found} rps (p95 < {args.threshold_ms:g} ms); load avg {os.getloadavg()[0]:.1f}"
    )
    summary = {"capacity_rps": found, "result": str(path), "steps": [asdict(s) for s in steps]}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
