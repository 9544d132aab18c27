"""Servers the load-engine tests measure against, each in its own process on a free port."""

from __future__ import annotations

import json
import socket
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaosgate.processes import ManagedProcess, free_port, wait_until

HERE = Path(__file__).parent


@dataclass
class Server:
    url: str
    process: ManagedProcess

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())


def _listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """start_server(module_or_script, *args) -> Server; stopped by PID at teardown."""
    started: list[ManagedProcess] = []

    def start(target: str, *args: str) -> Server:
        port = free_port()
        argv = [sys.executable, *(["-m", target] if not target.endswith(".py") else [target])]
        process = ManagedProcess(
            f"server-{len(started)}",
            [*argv, "--port", str(port), *args],
            tmp_path / f"server-{len(started)}.log",
        )
        started.append(process.start())
        wait_until(lambda: _listening(port), what=target, timeout_s=15, on_timeout=process.log_tail)
        return Server(f"http://127.0.0.1:{port}", process)

    yield start
    for process in started:
        process.stop(5)


@pytest.fixture
def http_server(start_server: Callable[..., Server]) -> Callable[..., Server]:
    """http_server(delay_ms=0) -> the bench server (fast, keep-alive, /_stall, /_count)."""

    def start(delay_ms: float = 0.0) -> Server:
        loop = "asyncio" if delay_ms else "uvloop"  # asyncio's timers are sub-ms, libuv's 1 ms
        return start_server("scenarios.bench.server", "--delay-ms", str(delay_ms), "--loop", loop)

    return start


@pytest.fixture
def ws_server(start_server: Callable[..., Server]) -> Callable[..., Server]:
    def start(*args: str) -> Server:
        return start_server(str(HERE / "ws_queue_server.py"), *args)

    return start
