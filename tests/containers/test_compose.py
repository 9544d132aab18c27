"""docker-compose.test.yml, brought up for real with the local images (docker-compose 1.29)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import docker
import httpx
import pytest

from chaosgate.processes import free_port, wait_until
from chaosgate.settings import HarnessSettings
from fixtures.pytest_plugin import missing_component
from fixtures.stack import PROXIES
from fixtures.toxiproxy import ToxiproxyAdapter

pytestmark = pytest.mark.containers
REPO = Path(__file__).resolve().parents[2]
SERVICES = 8


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    missing_component("neither docker-compose nor `docker compose`: apt-get install docker-compose")


def test_compose_stack_comes_up_healthy_and_answers(container_settings: HarnessSettings) -> None:
    project = f"chaosgate-test-{uuid.uuid4().hex[:8]}"
    sut_port, api_port = free_port(), free_port()
    images = container_settings.images
    env = {
        **os.environ,
        "CHAOSGATE_SUT_PORT": str(sut_port),
        "CHAOSGATE_TOXIPROXY_PORT": str(api_port),
        "CHAOSGATE_IMAGE_POSTGRES": images.postgres,
        "CHAOSGATE_IMAGE_REDIS": images.redis,
        "CHAOSGATE_IMAGE_TOXIPROXY": images.toxiproxy,
        "CHAOSGATE_IMAGE_SUT": images.sut,
    }
    compose = [*compose_command(), "-f", "docker-compose.test.yml", "-p", project]
    client = docker.from_env()
    ours = {"label": f"com.docker.compose.project={project}"}

    def run(*args: str, timeout_s: float) -> None:
        result = subprocess.run(
            [*compose, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s
        )
        assert result.returncode == 0, result.stderr[-3000:]

    def all_healthy() -> bool:
        containers = client.containers.list(all=True, filters=ours)
        health = [c.attrs["State"].get("Health", {}).get("Status") for c in containers]
        return len(containers) == SERVICES and all(h == "healthy" for h in health)

    try:
        # depends_on: service_healthy makes `up` wait for each dependency's healthcheck
        run("up", "-d", timeout_s=container_settings.timeouts.docker_s)
        wait_until(all_healthy, what="every compose service healthy", timeout_s=60)
        sut = f"http://127.0.0.1:{sut_port}"
        assert httpx.get(f"{sut}/api/ready", timeout=10).status_code == 200
        toxiproxy = ToxiproxyAdapter(f"http://127.0.0.1:{api_port}", timeout_s=5)
        try:
            assert set(toxiproxy.proxies()) == set(PROXIES)  # from the JSON config file

            def ready() -> int:
                return httpx.get(f"{sut}/api/ready", timeout=10).status_code

            toxiproxy.set_enabled("postgres", False)
            wait_until(lambda: ready() == 503, what="503 with Postgres down", timeout_s=20)
            toxiproxy.reset()
            wait_until(lambda: ready() == 200, what="200 after reset", timeout_s=20)
        finally:
            toxiproxy.close()
    finally:
        run("down", "-v", "--remove-orphans", "-t", "2", timeout_s=120)
        left = client.containers.list(all=True, filters=ours)
        left_networks = client.networks.list(filters=ours)
        client.close()
        assert not left, [c.name for c in left]
        assert not left_networks
