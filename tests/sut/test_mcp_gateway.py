"""The MCP gateway with two real ai_memory replica processes: routing, breakers, rate limit."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sut_mcp_ws_support import metric, poll, start_role

from chaosgate.processes import ManagedProcess
from scenarios.probes import Probes
from sut.config import SutSettings, load_sut_settings
from sut.errors import DependencyError, DependencyTimeout, DependencyUnavailable
from sut.mcp.client import GatewayClient
from sut.mcp.problems import RateLimited

pytestmark = pytest.mark.integration


@dataclass
class McpStack:
    settings: SutSettings
    gateway: ManagedProcess
    replicas: dict[str, ManagedProcess]

    @property
    def url(self) -> str:
        return self.settings.mcp.gateway_url

    def call(self, tool: str, arguments: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/tools/{tool}", json=arguments, timeout=10)

    def metric(self, name: str, replica: str) -> float | None:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return metric(text, name, f'replica="{replica}"')


def _start_stack(config: Path, workdir: Path) -> Iterator[McpStack]:
    settings = load_sut_settings(config)
    started: list[ManagedProcess] = []
    try:
        replicas = {}
        for conf in settings.mcp.replicas:
            health = f"http://{conf.host}:{conf.listen_port}/health"
            replicas[conf.name] = start_role(
                config, "ai_memory", workdir, replica=conf.name, ready_url=health
            )
            started.append(replicas[conf.name])
        gateway = start_role(
            config, "gateway", workdir, ready_url=f"{settings.mcp.gateway_url}/health"
        )
        started.append(gateway)
        yield McpStack(settings, gateway, replicas)
    finally:
        for process in started:
            process.stop(10)


@pytest.fixture
def mcp_stack(sut_config_factory: Callable[..., Path], sut_workdir: Path) -> Iterator[McpStack]:
    # A slow health poll, so the per-replica breaker (not the poll) is what first sees a kill.
    config = sut_config_factory(
        {
            "mcp.gateway.health_interval_s": 3,
            "mcp.gateway.replica_breaker": {
                "enabled": True,
                "failure_threshold": 2,
                "recovery_timeout_s": 1,
            },
        }
    )
    yield from _start_stack(config, sut_workdir)


def test_round_robin_over_both_replicas(mcp_stack: McpStack) -> None:
    served = set()
    for i in range(6):
        response = mcp_stack.call("remember", {"key": f"k{i}", "content": f"c{i}"})
        assert response.status_code == 200, response.text
        served.add(response.headers["x-replica"])
    assert served == {"ai_memory-1", "ai_memory-2"}
    found = mcp_stack.call("recall", {"key": "k3"})
    assert found.json()["memory"]["content"] == "c3"
    bad = mcp_stack.call("recall", {})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


def test_routes_around_a_killed_replica_and_it_rejoins(mcp_stack: McpStack) -> None:
    assert mcp_stack.call("remember", {"key": "kept", "content": "v"}).status_code == 200
    victim = mcp_stack.replicas["ai_memory-1"]
    victim.kill()

    statuses, served = [], []
    for _ in range(40):  # bounded: enough calls for the breaker threshold either way round
        response = mcp_stack.call("recall", {"key": "kept"})
        statuses.append(response.status_code)
        served.append(response.headers.get("x-replica"))
        if mcp_stack.metric("gateway_replica_breaker_state", "ai_memory-1") == 2:
            break
    assert set(statuses) == {200}, f"calls failed while a replica was down: {statuses}"
    assert set(served) == {"ai_memory-2"}
    assert mcp_stack.metric("gateway_replica_breaker_state", "ai_memory-1") == 2  # open
    assert mcp_stack.metric("gateway_replica_breaker_state", "ai_memory-2") == 0
    poll(
        lambda: mcp_stack.metric("gateway_replica_healthy", "ai_memory-1") == 0,
        what="health poll marks the killed replica unhealthy",
        timeout_s=10,
    )

    victim.start()
    seen: set[str | None] = set()

    def rejoined() -> bool:
        response = mcp_stack.call("recall", {"key": "kept"})
        assert response.status_code == 200, response.text
        seen.add(response.headers.get("x-replica"))
        return "ai_memory-1" in seen

    poll(rejoined, what="the restarted replica serving again", timeout_s=30, interval_s=0.2)
    assert mcp_stack.metric("gateway_replica_breaker_state", "ai_memory-1") == 0  # closed again
    assert mcp_stack.metric("gateway_replica_healthy", "ai_memory-1") == 1


def test_fails_over_from_a_paused_replica_within_the_call_budget(mcp_stack: McpStack) -> None:
    assert mcp_stack.call("remember", {"key": "p", "content": "v"}).status_code == 200
    budget = mcp_stack.settings.mcp.call_timeout_s
    mcp_stack.replicas["ai_memory-1"].pause()  # a stalled replica: TCP accepted, no answer
    try:
        for _ in range(6):
            started = time.monotonic()
            response = mcp_stack.call("recall", {"key": "p"})
            elapsed = time.monotonic() - started
            assert response.status_code == 200, response.text
            assert response.headers["x-replica"] == "ai_memory-2"
            assert elapsed < budget + 1.0  # tolerance: process scheduling on a busy machine
        # the calls hedged away from the paused replica still end there as timeouts (at the
        # budget), and those open its breaker
        poll(
            lambda: mcp_stack.metric("gateway_replica_breaker_state", "ai_memory-1") == 2,
            what="the paused replica's breaker open",
            timeout_s=budget + 2.0,
        )
    finally:
        mcp_stack.replicas["ai_memory-1"].resume()


async def test_gateway_client_maps_failures_to_503_and_504(mcp_stack: McpStack) -> None:
    client = GatewayClient(mcp_stack.settings.mcp)
    await client.start()
    try:
        stored = await client.call("remember", {"key": "c", "content": "x", "tags": ["t"]})
        assert stored["memory"]["tags"] == ["t"]

        mcp_stack.gateway.pause()  # accepts TCP (kernel backlog), never answers
        try:
            with pytest.raises(DependencyTimeout) as timeout:
                await client.call("recall", {"key": "c"})
            assert timeout.value.status == 504
        finally:
            mcp_stack.gateway.resume()

        mcp_stack.gateway.stop(10)
        with pytest.raises(DependencyUnavailable) as down:
            await client.call("recall", {"key": "c"})
        assert down.value.status == 503
        assert down.value.problem()["dependency"] == "mcp-gateway"
    finally:
        await client.close()


@pytest.fixture
def limited_stack(sut_config_factory: Callable[..., Path], sut_workdir: Path) -> Iterator[McpStack]:
    config = sut_config_factory({"mcp.gateway.rate_limit_rpm": 120})  # 2 per second
    yield from _start_stack(config, sut_workdir)


async def test_rate_limit_gives_429_problem_json(limited_stack: McpStack) -> None:
    responses = [limited_stack.call("recall", {"key": "x"}) for _ in range(10)]
    statuses = [r.status_code for r in responses]
    assert 200 in statuses
    assert statuses.count(429) >= 5, statuses  # 10 calls in well under a second, 2/s allowed
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.headers["content-type"] == "application/problem+json"
    assert int(limited.headers["retry-after"]) >= 1
    body = limited.json()
    assert body["status"] == 429
    assert {"type", "title", "detail"} <= set(body)

    client = GatewayClient(limited_stack.settings.mcp)
    await client.start()
    try:
        outcomes: list[object] = []
        for _ in range(5):
            try:
                outcomes.append(await client.call("recall", {"key": "x"}))
            except RateLimited as error:
                outcomes.append(error)
        assert any(isinstance(o, RateLimited) and o.status == 429 for o in outcomes), outcomes
    finally:
        await client.close()
    # A rate, not a lock-out: tokens come back.
    poll(
        lambda: limited_stack.call("recall", {"key": "x"}).status_code == 200,
        what="a call passing again after the bucket refills",
        timeout_s=5,
        interval_s=0.25,
    )


@pytest.fixture
def full_stack(
    sut_config_factory: Callable[..., Path], sut_workdir: Path
) -> Iterator[tuple[McpStack, str]]:
    config = sut_config_factory()
    for stack in _start_stack(config, sut_workdir):
        service = stack.settings.service
        base = f"http://{service.host}:{service.port}"
        backend = start_role(config, "backend", sut_workdir, ready_url=f"{base}/api/health")
        try:
            yield stack, base
        finally:
            backend.stop(10)


def test_backend_memories_go_through_gateway_and_replicas(
    full_stack: tuple[McpStack, str],
) -> None:
    stack, base = full_stack
    created = httpx.post(
        f"{base}/api/memories", json={"key": "e2e", "content": "hi", "tags": ["a"]}, timeout=10
    )
    assert created.status_code == 201, created.text
    got = httpx.get(f"{base}/api/memories/e2e", timeout=10)
    assert got.status_code == 200
    assert (got.json()["content"], got.json()["tags"]) == ("hi", ["a"])
    assert (
        httpx.get(f"{base}/api/memories", params={"query": "hi"}, timeout=10).json()["memories"][0][
            "key"
        ]
        == "e2e"
    )
    assert httpx.delete(f"{base}/api/memories/e2e", timeout=10).json()["deleted"] is True
    missing = httpx.get(f"{base}/api/memories/e2e", timeout=10)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    calls = httpx.get(f"{stack.url}/metrics", timeout=5).text
    assert metric(calls, "gateway_requests_total", 'status="200",tool="remember"') == 1

    stack.gateway.stop(10)  # the backend reaches MCP only through the gateway
    down = httpx.get(f"{base}/api/memories/e2e", timeout=10)
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    assert down.json()["dependency"] == "mcp-gateway"


def test_backend_metrics_show_a_killed_replica_out_of_rotation_for_the_probes(
    full_stack: tuple[McpStack, str],
) -> None:
    """Detection through the gateway: the harness probes read `breaker.<replica>` off the
    backend's /metrics (2 = out of the gateway's rotation)."""
    stack, base = full_stack
    probes = Probes(base, t0=time.time())

    def replica_series() -> dict[str, float | str]:
        probes.samples.clear()
        with httpx.Client(timeout=5) as client:
            probes.sample(client)
        return {s.name: s.value for s in probes.samples if s.name.startswith("breaker.ai_")}

    poll(
        lambda: replica_series() == {"breaker.ai_memory-1": 0.0, "breaker.ai_memory-2": 0.0},
        what="both replicas in rotation on the backend's /metrics",
        timeout_s=10,
    )
    stack.replicas["ai_memory-1"].kill()
    # gateway health poll (0.5 s) + backend health tick (0.5 s) + scheduling slack
    took = poll(
        lambda: replica_series().get("breaker.ai_memory-1") == 2.0,
        what="the killed replica reported out of rotation",
        timeout_s=5,
    )
    assert took < 5
    assert replica_series()["breaker.ai_memory-2"] == 0.0


@pytest.fixture
def shipped_mcp_stack(
    sut_config_factory: Callable[..., Path], sut_workdir: Path
) -> Iterator[McpStack]:
    """The gateway as shipped (health every 1 s, breaker after 3 failures), or weakened."""
    yield from _start_stack(sut_config_factory(), sut_workdir)


async def _calls_while_a_replica_hangs(stack: McpStack, rate: float, seconds: float) -> list[str]:
    """The backend's own client (its `call_timeout_s` budget), `rate` calls a second, open model,
    while ai_memory-1 is paused: each call's outcome ("ok" or the error's class name)."""
    client = GatewayClient(stack.settings.mcp)
    await client.start()

    async def one() -> str:
        try:
            await client.call("recall", {"key": "hung"})
        except DependencyError as error:
            return type(error).__name__
        return "ok"

    try:
        assert (await client.call("remember", {"key": "hung", "content": "v"}))["memory"]
        stack.replicas["ai_memory-1"].pause()
        tasks = []
        for _ in range(int(rate * seconds)):  # bounded: rate x seconds calls
            tasks.append(asyncio.create_task(one()))
            await asyncio.sleep(1 / rate)
        return list(await asyncio.gather(*tasks))
    finally:
        stack.replicas["ai_memory-1"].resume()
        await client.close()


async def test_a_hung_replica_fails_no_call_under_concurrent_load(
    shipped_mcp_stack: McpStack,
) -> None:
    """Issue 21: while one replica hangs, calls routed to it first must still be answered by
    the other one within the caller's budget (hedged after `hedge_after_ms`). Before hedging,
    each such call waited half its budget on the hung replica, and under load the failover
    lost the race against the backend's own timeout (42-54 % failed in healthy gate runs)."""
    outcomes = await _calls_while_a_replica_hangs(shipped_mcp_stack, rate=80, seconds=8)
    failed = [o for o in outcomes if o != "ok"]
    assert len(failed) <= len(outcomes) // 100, (
        f"{len(failed)} of {len(outcomes)} failed: {Counter(failed)}"
    )


@pytest.fixture
def no_failover_stack(
    sut_config_factory: Callable[..., Path], sut_workdir: Path
) -> Iterator[McpStack]:
    config = sut_config_factory(
        {"mcp.gateway.failover": False, "mcp.gateway.health_interval_s": 60,
         "mcp.gateway.replica_breaker": {"enabled": False}}
    )  # fmt: skip
    yield from _start_stack(config, sut_workdir)


def test_without_failover_a_killed_replica_fails_the_calls_routed_to_it(
    no_failover_stack: McpStack,
) -> None:
    """The `failover: false` weakening really is weaker: the calls round robin gives the dead
    replica fail (what `error_rate(*) during fault:replica-down` catches in the gate)."""
    no_failover_stack.replicas["ai_memory-1"].kill()
    statuses = [no_failover_stack.call("recall", {"key": "x"}).status_code for _ in range(6)]
    assert statuses.count(503) == 3, statuses  # every other call: the dead replica's turn
