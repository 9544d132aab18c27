"""The containers backend without the SUT: dependencies and Toxiproxy as real containers."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator

import docker
import pytest

from chaosgate.settings import HarnessSettings
from fixtures.backends import RUNNERS
from fixtures.containers import engine
from fixtures.containers.stack import open_container_stack
from fixtures.stack import DEPENDENCIES, PROXIES, Address, Stack

pytestmark = pytest.mark.containers


@pytest.fixture(scope="module")
def deps(container_settings: HarnessSettings) -> Iterator[Stack]:
    with open_container_stack(container_settings, include_sut=False) as stack:
        yield stack


def psql(address: Address, query: str) -> str:
    argv = ["psql", "-h", address.host, "-p", str(address.port), "-U", "postgres"]
    result = subprocess.run(
        [*argv, "-d", "chaosgate", "-tAc", query], capture_output=True, timeout=10, check=True
    )
    return result.stdout.decode().strip()


def redis_ping(address: Address, timeout_s: float = 5) -> float:
    start = time.perf_counter()
    with socket.create_connection((address.host, address.port), timeout=timeout_s) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(16).startswith(b"+PONG")
    return time.perf_counter() - start


def test_every_proxy_points_at_its_container(deps: Stack) -> None:
    proxies = deps.toxiproxy.proxies()
    assert set(proxies) == set(PROXIES)
    for name in DEPENDENCIES:
        assert proxies[name].upstream == deps.direct[name]
        assert proxies[name].listen.host == "127.0.0.1"
    assert deps.toxiproxy.version() == "2.12.0"
    assert deps.capabilities == RUNNERS["containers"].capabilities  # what the backend declares


def test_containers_run_on_host_networking_with_our_labels(deps: Stack) -> None:
    client = docker.from_env()
    try:
        mine = client.containers.list(filters={"label": f"{engine.LABEL_PID}={os.getpid()}"})
        services = {c.labels[engine.LABEL_SERVICE] for c in mine}
        assert {"postgres", "redis", "warehouse", "toxiproxy"} <= services
        assert all(c.attrs["HostConfig"]["NetworkMode"] == "host" for c in mine)
        assert all("org.testcontainers.session-id" in c.labels for c in mine)  # Ryuk reaps them
    finally:
        client.close()


def test_postgres_answers_through_its_proxy(deps: Stack) -> None:
    assert psql(deps.proxied("postgres"), "select current_database()") == "chaosgate"


def test_latency_toxic_on_redis_adds_its_latency(deps: Stack) -> None:
    proxy = deps.proxied("redis")
    before = statistics.median(redis_ping(proxy) for _ in range(5))
    deps.toxiproxy.add_toxic("redis", "latency", attributes={"latency": 100})
    try:
        during = statistics.median(redis_ping(proxy) for _ in range(5))
    finally:
        deps.toxiproxy.reset()
    # one round trip, one downstream delay of 100 ms; generous upper bound for a noisy machine
    assert 0.095 <= during - before <= 0.3, (before, during)


def test_disabled_proxy_refuses_and_reset_brings_it_back(deps: Stack) -> None:
    deps.toxiproxy.set_enabled("postgres", False)
    with pytest.raises(subprocess.CalledProcessError):
        psql(deps.proxied("postgres"), "select 1")
    deps.toxiproxy.add_toxic("redis", "latency", attributes={"latency": 50})
    assert not deps.toxiproxy.is_clean()
    deps.toxiproxy.reset()
    assert deps.toxiproxy.is_clean()
    assert psql(deps.proxied("postgres"), "select 1") == "1"


def test_controls_pause_resume_kill_restart(deps: Stack) -> None:
    redis = deps.controls["redis"]
    redis.pause()
    assert redis.is_paused()
    with pytest.raises(TimeoutError):  # frozen: the kernel accepts, nothing ever answers
        redis_ping(deps.direct["redis"], timeout_s=0.5)
    redis.resume()
    assert redis.is_running()
    assert not redis.is_paused()
    assert redis_ping(deps.direct["redis"]) < 1

    postgres = deps.controls["postgres"]
    psql(deps.direct["postgres"], "create table if not exists kept (x int)")
    postgres.kill()
    assert not postgres.is_running()
    postgres.restart()
    assert postgres.is_running()
    # same container: the data survived the kill
    assert psql(deps.direct["postgres"], "select to_regclass('kept') is not null") == "t"
