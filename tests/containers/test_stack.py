"""The full reference stack as containers (host networking): the SUT behind real Toxiproxy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from chaosgate.processes import wait_until
from fixtures.stack import SUT_PROCESSES, Stack

pytestmark = pytest.mark.containers
REPO = Path(__file__).resolve().parents[2]


def timed_get(url: str) -> float:
    start = time.perf_counter()
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return time.perf_counter() - start


def test_sut_answers_through_the_client_proxy(cstack: Stack) -> None:
    client = cstack.toxiproxy.proxies()["client"]
    assert client.upstream == cstack.direct["backend"]
    assert cstack.sut_url == client.listen.url()
    assert httpx.get(f"{cstack.sut_url}/api/health", timeout=10).status_code == 200
    ready = httpx.get(f"{cstack.sut_url}/api/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    for name in SUT_PROCESSES:
        assert cstack.controls[name].is_running()


def test_every_sut_dependency_points_at_its_proxy(cstack: Stack) -> None:
    assert cstack.sut_config_path is not None
    config = yaml.safe_load(Path(cstack.sut_config_path).read_text())
    for name in ("postgres", "redis", "warehouse"):
        assert config[name]["port"] == cstack.proxied(name).port
    assert config["mcp"]["gateway_url"] == cstack.proxied("gateway").url()
    urls = {r["name"]: r["url"] for r in config["mcp"]["replicas"]}
    assert urls == {n: f"{cstack.proxied(n).url()}/mcp" for n in ("ai_memory-1", "ai_memory-2")}


def test_latency_toxic_on_postgres_slows_a_db_endpoint_by_about_100ms(cstack: Stack) -> None:
    url = f"{cstack.sut_url}/api/items?limit=5"
    timed_get(url)  # warm: pool connection, statement cache
    # the fastest of 7: other work on the host only ever adds time, so a busy host's noise in
    # the median (CI saw 86 ms added: a slow "before") does not move the fastest call
    before = min(timed_get(url) for _ in range(7))
    cstack.toxiproxy.add_toxic("postgres", "latency", attributes={"latency": 100})
    try:
        timed_get(url)  # the first call may also open a fresh connection
        during = min(timed_get(url) for _ in range(7))
    finally:
        cstack.toxiproxy.reset()
    added_ms = (during - before) * 1000
    print(f"GET /api/items fastest {before * 1000:.1f} ms -> {during * 1000:.1f} ms")
    # one query = one round trip = one 100 ms downstream delay; tolerance for a noisy machine
    assert 90 <= added_ms <= 250, added_ms


def test_postgres_proxy_down_makes_ready_503_and_back(cstack: Stack) -> None:
    def status() -> int:
        return httpx.get(f"{cstack.sut_url}/api/ready", timeout=10).status_code

    cstack.toxiproxy.set_enabled("postgres", False)
    try:
        wait_until(lambda: status() == 503, what="/api/ready 503 with Postgres down", timeout_s=20)
        detail = httpx.get(f"{cstack.sut_url}/api/ready", timeout=10).json()
        assert detail["checks"]["postgres"]["ok"] is False
    finally:
        cstack.toxiproxy.set_enabled("postgres", True)
    wait_until(lambda: status() == 200, what="/api/ready 200 again", timeout_s=20)


def test_reset_clears_every_toxic(cstack: Stack) -> None:
    cstack.toxiproxy.add_toxic("redis", "latency", attributes={"latency": 20})
    cstack.toxiproxy.add_toxic("warehouse", "bandwidth", attributes={"rate": 10})
    cstack.toxiproxy.set_enabled("gateway", False)
    assert len(cstack.toxiproxy.dirty()) == 3
    cstack.toxiproxy.reset()
    assert cstack.toxiproxy.is_clean()
    assert all(not cstack.toxiproxy.toxics(name) for name in cstack.proxies)


def test_backend_container_kill_and_restart(cstack: Stack) -> None:
    backend = cstack.controls["backend"]
    backend.kill()
    assert not backend.is_running()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{cstack.sut_url}/api/health", timeout=2).raise_for_status()
    backend.restart()
    assert httpx.get(f"{cstack.sut_url}/api/ready", timeout=10).status_code == 200


def test_docker_not_reachable_exits_2_with_a_clear_message() -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = subprocess.run(
        [sys.executable, "-m", "chaosgate.cli", "up", "--stack", "containers"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Docker" in result.stderr
    assert "no Docker engine answers" in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.stderr
