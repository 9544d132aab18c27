"""Helpers for the MCP and WebSocket tests: SUT roles as real processes, polled readiness."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from chaosgate.processes import ManagedProcess, wait_until

START_TIMEOUT_S = 60.0  # generous: the 2-core machine is shared, and imports take seconds


def start_role(
    config: Path, role: str, workdir: Path, *, replica: str | None = None, ready_url: str
) -> ManagedProcess:
    """Start one SUT role (`python -m sut`) and wait until `ready_url` answers."""
    name = replica or role
    argv = [sys.executable, "-m", "sut", "--config", str(config), "--role", role]
    argv += ["--replica", replica] if replica else []
    process = ManagedProcess(name, argv, workdir / f"{name}.log").start()
    wait_ready(process, ready_url)
    return process


def wait_ready(process: ManagedProcess, url: str) -> None:
    def answers() -> bool:
        if not process.is_running():
            raise AssertionError(f"{process.name} exited\n{process.log_tail()}")
        return httpx.get(url, timeout=1).status_code < 600

    wait_until(
        answers,
        what=process.name,
        timeout_s=START_TIMEOUT_S,
        transient=(OSError, httpx.HTTPError),
        on_timeout=process.log_tail,
    )


def poll(
    check: Callable[[], bool], *, what: str, timeout_s: float, interval_s: float = 0.05
) -> float:
    """Poll until `check()` holds; returns seconds taken, fails the test with `what` on timeout."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)
    return time.monotonic() - start


def metric(text: str, name: str, labels: str) -> float | None:
    """The value of `name{labels}` in Prometheus text, e.g. metric(t, "x", 'replica="a"')."""
    prefix = f"{name}{{{labels}}} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None
