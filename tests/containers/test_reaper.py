"""Ryuk is on: when the harness dies by SIGKILL (no teardown), the reaper removes its containers.

Also the offline images themselves: the Postgres image honours the official env contract as
Testcontainers' Postgres module uses it, and a second build.sh run rebuilds nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from chaosgate.processes import free_port, wait_until
from chaosgate.settings import HarnessSettings
from fixtures.containers import engine

pytestmark = pytest.mark.containers
REPO = Path(__file__).resolve().parents[2]

CHILD = """
import sys
from chaosgate.settings import load_settings
from fixtures.containers.stack import open_container_stack
with open_container_stack(load_settings(network="host"), include_sut=False) as stack:
    print(stack.toxiproxy_url, stack.sut_config_path, flush=True)
    sys.stdin.read()  # until killed
"""


def test_sigkilled_harness_leaves_no_container_behind(container_settings: HarnessSettings) -> None:
    env = {**os.environ, "RYUK_RECONNECTION_TIMEOUT": "1s"}  # read by the child's testcontainers
    client = docker.from_env()
    with subprocess.Popen(  # the context closes its pipes
        [sys.executable, "-c", CHILD],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as child:
        theirs = {"label": f"{engine.LABEL_PID}={child.pid}"}
        try:
            assert child.stdout is not None
            url, config = child.stdout.readline().decode().split()
            assert url.startswith("http://127.0.0.1:")  # the stack is up
            workdir = Path(config).parent
            assert workdir.is_dir()
            assert len(client.containers.list(filters=theirs)) == 4
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
            started = time.monotonic()
            wait_until(
                lambda: not client.containers.list(all=True, filters=theirs),
                what="Ryuk removing the SIGKILLed harness's containers",
                timeout_s=30,
            )
            print(f"reaped {time.monotonic() - started:.1f}s after SIGKILL")
            wait_until(lambda: not workdir.exists(), what=f"{workdir} removed", timeout_s=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
            for container in client.containers.list(all=True, filters=theirs):  # test failed
                container.remove(force=True)
            client.close()


def test_postgres_image_honours_the_official_env_contract(
    container_settings: HarnessSettings,
) -> None:
    from testcontainers.community.postgres import PostgresContainer

    from fixtures.containers.engine import configure_testcontainers

    configure_testcontainers(container_settings)
    port = free_port()
    container = (
        PostgresContainer(
            container_settings.images.postgres,
            port=port,
            username="alice",
            password="s3cret",
            dbname="shop",
            driver=None,
        )
        .with_env("PGPORT", str(port))
        .with_kwargs(network_mode="host", labels=engine.labels("contract", "postgres"))
    )
    container.ports = {}
    with container:  # the module's own readiness: psql with these credentials
        query = ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "alice", "-d", "shop"]
        ok = subprocess.run(
            [*query, "-tAc", "select current_user"],
            env={**os.environ, "PGPASSWORD": "s3cret"},
            capture_output=True,
            timeout=10,
            check=True,
        )
        assert ok.stdout.strip() == b"alice"
        wrong = subprocess.run(
            [*query, "-tAc", "select 1"],
            env={**os.environ, "PGPASSWORD": "wrong"},
            capture_output=True,
            timeout=10,
            check=False,
        )
        assert wrong.returncode != 0  # a password is really required


def test_second_build_rebuilds_nothing(container_settings: HarnessSettings) -> None:
    result = subprocess.run(
        ["bash", "fixtures/images/build.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    for image in ("base", "postgres", "redis", "toxiproxy", "ryuk"):
        name = getattr(container_settings.images, image)
        assert f"{name} up to date" in result.stdout, result.stdout
