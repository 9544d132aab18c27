"""The example service on a real Postgres behind a real Toxiproxy, every process stopped by PID.

Postgres and Toxiproxy live for the module; each test gets a fresh `postgres` proxy and starts
the service in the mode it needs with `example.start(resilient=...)`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from example_support import PROXY, ExampleStack

from chaosgate.processes import free_port
from fixtures.local.services import LocalService, start_postgres, start_toxiproxy
from fixtures.stack import Address
from fixtures.toxiproxy import ToxiproxyAdapter


@pytest.fixture(scope="module")
def example_services() -> Iterator[tuple[Path, LocalService, LocalService]]:
    workdir = Path(tempfile.mkdtemp(prefix="example-test-"))
    started: list[LocalService] = []
    try:
        started.append(start_postgres(workdir / "pg", free_port()))
        started.append(start_toxiproxy(workdir, free_port()))
        yield workdir, started[0], started[1]
    finally:
        for service in reversed(started):
            service.process.stop(10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def example(example_services: tuple[Path, LocalService, LocalService]) -> Iterator[ExampleStack]:
    workdir, pg, toxiproxy = example_services
    adapter = ToxiproxyAdapter(f"http://127.0.0.1:{toxiproxy.port}", 5.0)
    listen = free_port()
    adapter.create_proxy(PROXY, Address("127.0.0.1", listen), Address("127.0.0.1", pg.port))
    stack = ExampleStack(workdir, pg, adapter, listen)
    try:
        yield stack
    finally:
        # the proxy goes first: a service hung on a blackholed query then stops at once
        adapter.delete_proxy(PROXY)
        for app in stack.apps:
            app.stop(5)
        adapter.close()
