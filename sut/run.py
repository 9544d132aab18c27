"""Run one SUT process (backend, gateway or one ai_memory replica), or all four under a supervisor.

Each role serves an ASGI app with uvicorn in-process. SIGTERM/SIGINT set `should_exit`; uvicorn
then drains within `service.shutdown_timeout_s` and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from sut.config import SutSettings

log = logging.getLogger("sut.run")
ROLES = ("backend", "gateway", "ai_memory")


class _Server(uvicorn.Server):
    """uvicorn re-raises a caught SIGTERM after shutdown (exit 143); we want a clean exit 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _stop(self) -> None:
        if self.should_exit:
            self.force_exit = True  # a second signal skips the drain
        self.should_exit = True


def build_app(settings: SutSettings, role: str, replica: str | None) -> tuple[Any, str, int]:
    """The role's ASGI app and where it listens. MCP roles import lazily (they ship separately)."""
    if role == "backend":
        from sut.api import create_app

        return create_app(settings), settings.service.host, settings.service.port
    if role == "gateway":
        from sut.mcp.gateway import create_gateway_app

        gateway = settings.mcp.gateway
        return create_gateway_app(settings), gateway.host, gateway.port
    name = replica or settings.mcp.replicas[0].name
    where = settings.mcp.replica(name)
    from sut.mcp.ai_memory import create_replica_app

    return create_replica_app(settings, name), where.host, where.listen_port


def serve(settings: SutSettings, role: str, replica: str | None) -> int:
    app, host, port = build_app(settings, role, replica)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.service.log_level,
        access_log=False,
        timeout_graceful_shutdown=max(1, int(settings.service.shutdown_timeout_s)),
        lifespan="on",
    )
    server = _Server(config)
    asyncio.run(server.serve())
    return 0 if server.started else 1


# ---- supervisor (for humans): every role as its own child process ---------------------------

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def supervise(settings: SutSettings, config_path: Path) -> int:
    """Start gateway, replicas, backend; stop them all on SIGTERM/SIGINT or when one exits."""
    argv = [sys.executable, "-m", "sut", "--config", str(config_path), "--role"]
    plan = [("gateway", [*argv, "gateway"])]
    plan += [(r.name, [*argv, "ai_memory", "--replica", r.name]) for r in settings.mcp.replicas]
    plan += [("backend", [*argv, "backend"])]
    # Own process group: a terminal's Ctrl-C reaches only this supervisor, which stops the
    # children once, in order (a child hit by both SIGINT and our SIGTERM took the second as
    # "skip the drain" and logged a CancelledError traceback).
    children = {
        name: subprocess.Popen(cmd, preexec_fn=die_with_parent, process_group=0)
        for name, cmd in plan
    }
    stopping = False

    def request_stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    failed = None
    while not stopping and failed is None:
        failed = next((n for n, p in children.items() if p.poll() is not None), None)
        time.sleep(0.1)  # a supervisor loop, not synchronisation: it polls child liveness
    if failed:
        print(f"sut: {failed} exited with status {children[failed].returncode}", file=sys.stderr)
    # The backend first (it calls the others), then the MCP processes together.
    ordered = list(children.values())
    _stop_all(ordered[-1:], settings.service.shutdown_timeout_s + 1)
    _stop_all(ordered[:-1], settings.service.shutdown_timeout_s + 1)
    return 1 if failed else 0


def _stop_all(processes: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"sut: pid {process.pid} ignored SIGTERM; killing it", file=sys.stderr)
            process.kill()
            process.wait()
