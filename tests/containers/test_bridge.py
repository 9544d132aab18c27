"""The `bridge` network mode: one Docker network, services under their aliases (the usual
Testcontainers way); the harness reaches published ports through 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from chaosgate.processes import wait_until
from chaosgate.settings import HarnessSettings
from fixtures.containers.services import ContainerService
from fixtures.containers.stack import open_container_stack

pytestmark = pytest.mark.containers


def test_bridge_stack_answers_and_reacts_to_a_fault(container_settings: HarnessSettings) -> None:
    settings = container_settings.model_copy(update={"network": "bridge"})
    with open_container_stack(settings) as stack:
        proxies = stack.toxiproxy.proxies()
        assert proxies["postgres"].upstream.host == "postgres"  # the alias on the network
        assert proxies["client"].upstream.host == "backend"
        assert stack.sut_url.startswith("http://127.0.0.1:")
        networks = set()
        for control in stack.controls.values():
            assert isinstance(control, ContainerService)
            networks |= set(control.docker.attrs["NetworkSettings"]["Networks"])
        assert len(networks) == 1  # every container on the stack's own network

        def ready() -> int:
            return httpx.get(f"{stack.sut_url}/api/ready", timeout=10).status_code

        assert ready() == 200
        stack.toxiproxy.set_enabled("postgres", False)
        wait_until(lambda: ready() == 503, what="503 with Postgres down", timeout_s=20)
        stack.toxiproxy.reset()
        wait_until(lambda: ready() == 200, what="200 after reset", timeout_s=20)
