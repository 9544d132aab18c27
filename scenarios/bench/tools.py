"""The reference tools the bench compares the engine with, each run as its own process on
127.0.0.1: a trivial server (nginx if installed, else chaosgate's bench server), plain Locust
FastHttpUser closed-loop, k6's constant-arrival-rate executor, and wrk. Every run is bounded."""

from __future__ import annotations

import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from chaosgate.processes import ManagedProcess, free_port, wait_until

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok"; }} }}
}}
"""


def _listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@contextmanager
def trivial_server(
    workdir: Path, delay_ms: float = 0.0, prefer_nginx: bool = True
) -> Iterator[tuple[str, str]]:
    """(base URL, server name). nginx only for delay 0 (it cannot add a delay)."""
    port = free_port()
    nginx = shutil.which("nginx")
    if prefer_nginx and nginx and delay_ms == 0:
        conf = workdir / f"nginx-{port}.conf"
        conf.write_text(NGINX_CONF.format(dir=workdir, port=port))
        process = ManagedProcess(
            "nginx", [nginx, "-c", str(conf), "-p", str(workdir)], workdir / "nginx.log"
        )
        name = "nginx (1 worker)"
    else:
        loop = "asyncio" if delay_ms else "uvloop"  # asyncio timers are sub-ms; libuv's are 1 ms
        argv = [sys.executable, "-m", "scenarios.bench.server", "--port", str(port),
                "--delay-ms", str(delay_ms), "--loop", loop]  # fmt: skip
        process = ManagedProcess(f"server-{port}", argv, workdir / f"server-{port}.log")
        name = f"chaosgate bench server ({loop})"
    process.start()
    try:
        wait_until(lambda: _listening(port), what=name, timeout_s=15, on_timeout=process.log_tail)
        yield f"http://127.0.0.1:{port}", name
    finally:
        process.stop(5)


def _run(
    argv: list[str], timeout_s: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout_s, cwd=cwd, check=False
    )


def wrk_rps(url: str, duration_s: float, connections: int = 50) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    out = _run(
        [wrk, "-t1", f"-c{connections}", f"-d{duration_s:g}s", url + "/ping"], duration_s + 30
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    return float(match.group(1)) if match else None


LOCUSTFILE = textwrap.dedent("""
    from locust import FastHttpUser, constant, task

    class Plain(FastHttpUser):
        wait_time = constant(0)

        @task
        def ping(self):
            self.client.get("/ping")
""")


@dataclass
class PlainLocust:
    rps: float
    cpu_percent: float  # median over the steady part of the run

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_percent / 100 / self.rps * 1e6


@dataclass
class Sampled:
    stdout: str
    stderr: str
    returncode: int
    cpu_percent: float  # median over the steady part of the run


def run_sampled(
    argv: list[str], timeout_s: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Sampled:
    """Run a tool to its end, sampling its CPU every 0.5 s (bounded: killed at `timeout_s`)."""
    process = psutil.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env
    )
    samples: list[float] = []
    try:
        process.cpu_percent(None)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                process.wait(timeout=0.5)
                break
            except psutil.TimeoutExpired:
                samples.append(process.cpu_percent(None))
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    steady = samples[3:-1] or samples  # skip start-up (imports) and the last partial sample
    return Sampled(stdout, stderr, process.returncode, statistics.median(steady or [0.0]))


def locust_closed(url: str, duration_s: float, workdir: Path, users: int = 20) -> PlainLocust:
    """Plain Locust: FastHttpUser, no wait (closed loop), one process; its own JSON stats."""
    locustfile = workdir / "plain_locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--json",
            "--skip-log", "-u", str(users), "-r", str(users), "-t", f"{duration_s:g}s", "--host", url]  # fmt: skip
    done = run_sampled(argv, duration_s + 60, cwd=workdir)
    stdout, stderr = done.stdout, done.stderr
    try:
        stats = json.loads(stdout[stdout.index("[") :])
    except ValueError:
        raise RuntimeError(f"plain locust gave no JSON stats: {stderr[-500:]}") from None
    entry = next((e for e in stats if e["name"] == "/ping"), None)
    if entry is None:
        raise RuntimeError(f"plain locust sent no request in {duration_s:g} s: {stderr[-500:]}")
    span = float(entry["last_request_timestamp"]) - float(entry["start_time"])
    return PlainLocust(float(entry["num_requests"]) / span, done.cpu_percent)


@dataclass
class K6Result:
    rps: float
    p50_ms: float
    p99_ms: float | None
    dropped: int
    cpu_percent: float  # median over the steady part of the run

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_percent / 100 / self.rps * 1e6 if self.rps else 0.0


K6_SCRIPT = textwrap.dedent("""
    import http from "k6/http";
    export const options = {
      discardResponseBodies: true,
      summaryTrendStats: ["med", "p(99)", "max"],
      scenarios: { open: { executor: "constant-arrival-rate", rate: Number(__ENV.RATE),
        timeUnit: "1s", duration: __ENV.DURATION, preAllocatedVUs: 100, maxVUs: 1000 } },
    };
    export default function () { http.get(`${__ENV.URL}/ping`); }
""")


def k6_binary() -> str | None:
    return shutil.which("k6")


def k6_run(url: str, rate: float, duration_s: float, workdir: Path) -> K6Result:
    """k6's constant-arrival-rate at `rate`, pinned to one core (GOMAXPROCS=1) like one worker."""
    k6 = k6_binary()
    if k6 is None:
        raise FileNotFoundError("k6 not installed (.ci/bootstrap --bench builds it)")
    script = workdir / "k6_open.js"
    script.write_text(K6_SCRIPT)
    summary = workdir / f"k6-summary-{rate:g}.json"
    env_args = ["-e", f"RATE={rate:g}", "-e", f"DURATION={duration_s:g}s", "-e", f"URL={url}"]
    argv = [
        k6,
        "run",
        "--quiet",
        "--no-usage-report",
        "--summary-export",
        str(summary),
        *env_args,
        str(script),
    ]
    env = {"GOMAXPROCS": "1", "PATH": "/usr/bin:/bin", "HOME": str(workdir)}
    done = run_sampled(argv, duration_s + 60, env=env)
    if not summary.exists():
        raise RuntimeError(f"k6 failed (exit {done.returncode}): {done.stderr[-500:]}")
    metrics: dict[str, Any] = json.loads(summary.read_text())["metrics"]
    duration = metrics["http_req_duration"]
    return K6Result(
        rps=float(metrics["http_reqs"]["count"]) / duration_s,
        p50_ms=float(duration["med"]),
        p99_ms=float(duration["p(99)"]) if "p(99)" in duration else None,
        dropped=int(metrics.get("dropped_iterations", {}).get("count", 0)),
        cpu_percent=done.cpu_percent,
    )
