"""Soak figures for the parent side: `chaosgate load` held for a long time, its RSS watched.

`python -m scenarios.bench.soak --duration 30m --rate 300 --workers 2`: starts the bench's
trivial server, runs `chaosgate load --users ping` against it as a child process, samples that
process's RSS (the parent only: the Locust workers are its children and have their own figure,
`generator.rss_mb_max`) every few seconds, then prints the RSS at start (once the load runs),
at the end of the load and its maximum, the sizes of result.json and report.html, and what a
further hour adds to result.json (the coarse buckets' bytes per hour of their span). The last
line is the same figures as one JSON object. Exit 0 whatever the figures: it measures, it
does not judge (the goal, flat within 50 MB, is read by a person)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from scenarios.bench.tools import trivial_server
from scenarios.load.plan import parse_duration

SAMPLE_EVERY_S = 5.0
START_AT_S = 30.0  # "start": the first sample once the workers run and the first flushes merged
MB = 2**20


def _rss_mb(process: psutil.Process) -> float | None:
    try:
        return float(process.memory_info().rss) / MB
    except psutil.Error:
        return None


def _result_figures(run_dir: Path, duration_s: float) -> dict[str, Any]:
    result_path, report_path = run_dir / "result.json", run_dir / "report.html"
    figures: dict[str, Any] = {
        "result_bytes": result_path.stat().st_size if result_path.exists() else None,
        "report_bytes": report_path.stat().st_size if report_path.exists() else None,
    }
    if not result_path.exists():
        return figures
    scenario = json.loads(result_path.read_text())["scenarios"][0]
    series = scenario["series"]
    coarse = [b for b in series if b.get("slices", 1) > 1]
    figures["buckets"] = len(series)
    figures["coarse_buckets"] = len(coarse)
    figures["status"] = scenario["status"]
    figures["invalid_reason"] = scenario.get("invalid_reason")
    generator = scenario.get("generator") or {}
    figures["achieved_rps"] = round(generator.get("achieved_rate", 0.0), 1)
    figures["worker_rss_mb_max"] = generator.get("rss_mb_max")
    if coarse:
        span_s = (max(b["slice"] for b in coarse) - min(b["slice"] for b in coarse)) / 4 + 10
        size = sum(len(json.dumps(b, indent=1)) for b in coarse)
        figures["result_bytes_per_hour_after_10_min"] = round(size / span_s * 3600)
    figures["duration_s"] = duration_s
    return figures


def soak(duration_s: float, rate: float, workers: int, workdir: Path) -> dict[str, Any]:
    samples: list[tuple[float, float]] = []
    out = workdir / "reports"
    log = workdir / "load.log"
    with trivial_server(workdir) as (url, server_name):
        argv = [sys.executable, "-m", "chaosgate", "load", "--url", url, "--users", "ping",
                "--rate", f"{rate:g}", "--duration", f"{duration_s:g}s", "--workers",
                str(workers), "--name", "soak", "--out", str(out), "--history", "off"]  # fmt: skip
        with log.open("w") as sink:
            child = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
            process = psutil.Process(child.pid)
            started = time.monotonic()
            next_line = 60.0
            while child.poll() is None:
                elapsed = time.monotonic() - started
                rss = _rss_mb(process)
                if rss is not None:
                    samples.append((elapsed, rss))
                if elapsed >= next_line:
                    next_line += 60.0
                    print(
                        f"soak {elapsed:6.0f}/{duration_s:.0f} s  parent RSS {rss} MB", flush=True
                    )
                time.sleep(SAMPLE_EVERY_S)
        code = child.returncode
    load_end = [rss for t, rss in samples if t <= duration_s]
    start = next((rss for t, rss in samples if t >= START_AT_S), None)
    runs = sorted(out.iterdir()) if out.exists() else []
    figures: dict[str, Any] = {
        "server": server_name,
        "rate_rps": rate,
        "workers": workers,
        "exit_code": code,
        "parent_rss_mb_start": None if start is None else round(start, 1),
        "parent_rss_mb_end_of_load": round(load_end[-1], 1) if load_end else None,
        "parent_rss_mb_max": round(max((r for _, r in samples), default=0.0), 1),
        "parent_rss_mb_max_during_load": round(max(load_end, default=0.0), 1),
        "log": str(log),
    }
    if runs:
        figures.update(_result_figures(runs[-1], duration_s))
        figures["run_dir"] = str(runs[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", default="30m", help="e.g. 10m, 30m, 2h")
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None, help="kept (default: a temp dir)")
    args = parser.parse_args(argv)
    duration_s = parse_duration(args.duration)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        figures = soak(duration_s, args.rate, args.workers, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="chaosgate-soak-") as tmp:
            figures = soak(duration_s, args.rate, args.workers, Path(tmp))
    for key, value in figures.items():
        print(f"{key:40s} {value}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
