"""ReplicaRouter: healthy-replica round robin, one purgatory breaker per replica, health polling.

A call goes to the next healthy replica (round robin); if that replica's breaker is open or the
call fails at the transport level, it fails over to the next healthy one within the same time
budget (all three tools are idempotent, so a retry elsewhere is safe). Answers from a replica,
including its dependency errors, are final: they say nothing against the replica itself.

Hedging (`mcp.gateway.hedge_after_ms`, "The Tail at Scale"): a call not answered by then also
goes to the next replica, and the first answer wins. Without it, a hung replica (SIGSTOP: TCP
accepted, no answer) held each call routed to it for half the budget before the failover, and
under load the failover lost the race against the caller's own timeout. The slower attempt runs
on to its own end, so a hung replica still fails its calls and its breaker still opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.messages.base import Event
from purgatory.domain.messages.events import ContextChanged
from purgatory.domain.model import OpenedState

from sut.config import SutSettings
from sut.errors import BreakerOpen, DependencyError, DependencyUnavailable
from sut.mcp.replica import ReplicaLink, ReplicaTimeout, ToolOutcome

log = logging.getLogger(__name__)

BREAKER_VALUE = {"closed": 0, "half-opened": 1, "opened": 2}


def health_url(mcp_url: str) -> str:
    """`http://h:p/mcp` → `http://h:p/health` (same proxy, same host:port)."""
    base = httpx.URL(mcp_url)
    return str(base.copy_with(path="/health", query=None))


class ReplicaRouter:
    def __init__(self, settings: SutSettings, registry: CollectorRegistry) -> None:
        self.settings = settings
        mcp = settings.mcp
        self.budget_s = mcp.call_timeout_s
        self.links = {r.name: ReplicaLink(r, mcp.call_timeout_s) for r in mcp.replicas}
        self.health_urls = {r.name: health_url(r.url) for r in mcp.replicas}
        self.healthy: dict[str, bool] = dict.fromkeys(self.links, False)
        self.breaker_state: dict[str, str] = dict.fromkeys(self.links, "closed")
        conf = mcp.gateway.replica_breaker
        self.breakers: AsyncCircuitBreakerFactory | None = None
        if conf.enabled:
            self.breakers = AsyncCircuitBreakerFactory(
                default_threshold=conf.failure_threshold,
                default_ttl=conf.recovery_timeout_s,
                exclude=[
                    asyncio.CancelledError
                ],  # a cancelled caller says nothing about the replica
            )
            self.breakers.add_listener(self._on_breaker_event)
        self._rr = itertools.count()
        self._poller: asyncio.Task[None] | None = None
        self._stragglers: set[asyncio.Task[tuple[str, ToolOutcome]]] = set()
        self._http: httpx.AsyncClient | None = None
        self.g_breaker = Gauge(
            "gateway_replica_breaker_state",
            "0 closed, 1 half-open, 2 open",
            ["replica"],
            registry=registry,
        )
        self.g_healthy = Gauge(
            "gateway_replica_healthy",
            "1 if the last health poll passed",
            ["replica"],
            registry=registry,
        )
        self.c_calls = Counter(
            "gateway_replica_calls",
            "tool calls per replica and outcome",
            ["replica", "outcome"],
            registry=registry,
        )
        for name in self.links:
            self.g_breaker.labels(name).set(0)
            self.g_healthy.labels(name).set(0)

    def _on_breaker_event(self, name: str, kind: str, event: Event) -> None:
        if isinstance(event, ContextChanged) and name in self.breaker_state:
            self.breaker_state[name] = event.state
            self.g_breaker.labels(name).set(BREAKER_VALUE[event.state])
            log.warning("gateway breaker for %s is now %s", name, event.state)

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.breakers is not None:
            await self.breakers.initialize()
        self._http = httpx.AsyncClient(timeout=self.settings.health.check_timeout_s)
        await self.poll_once()
        self._poller = asyncio.create_task(self._poll_loop(), name="gateway-health-poll")

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for attempt in list(self._stragglers):
            attempt.cancel()
        for link in self.links.values():
            await link.close()
        if self._http is not None:
            await self._http.aclose()

    # --- health polling --------------------------------------------------------------------------
    async def _probe(self, name: str) -> bool:
        assert self._http is not None
        try:
            response = await self._http.get(self.health_urls[name])
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def poll_once(self) -> None:
        names = list(self.links)
        results = await asyncio.gather(*(self._probe(n) for n in names))
        for name, ok in zip(names, results, strict=True):
            if ok != self.healthy[name]:
                log.warning("replica %s is now %s", name, "healthy" if ok else "unhealthy")
            self.healthy[name] = ok
            self.g_healthy.labels(name).set(1 if ok else 0)

    async def _poll_loop(self) -> None:
        while True:
            # the configured period once a replica is in rotation; until then (replicas still
            # starting) every second, so the gateway is ready as soon as one is
            period = self.settings.mcp.gateway.health_interval_s
            await asyncio.sleep(period if any(self.healthy.values()) else min(period, 1.0))
            await self.poll_once()

    # --- routing -------------------------------------------------------------------------------
    def candidates(self) -> list[str]:
        healthy = [n for n, ok in self.healthy.items() if ok]
        if not healthy:
            return []
        start = next(self._rr) % len(healthy)
        return healthy[start:] + healthy[:start]

    @asynccontextmanager
    async def _guard(self, name: str) -> AsyncIterator[None]:
        if self.breakers is None:
            yield
            return
        try:
            breaker = await self.breakers.get_breaker(name)
            async with breaker:
                yield
        except OpenedState:
            raise BreakerOpen(f"breaker for replica {name} is open", dependency=name) from None

    async def _attempt(
        self, name: str, tool: str, arguments: dict[str, Any], timeout_s: float
    ) -> tuple[str, ToolOutcome]:
        try:
            async with self._guard(name):
                outcome = await self.links[name].call(tool, arguments, timeout_s)
        except DependencyError as error:  # breaker open, unreachable, timed out
            self.c_calls.labels(name, type(error).__name__).inc()
            raise
        self.c_calls.labels(name, "ok").inc()
        return name, outcome

    def _let_run(self, attempts: Iterable[asyncio.Task[tuple[str, ToolOutcome]]]) -> None:
        """Losing attempts end on their own (bounded by the budget): their failures still count."""
        for attempt in attempts:
            self._stragglers.add(attempt)
            attempt.add_done_callback(self._straggler_done)

    def _straggler_done(self, attempt: asyncio.Task[tuple[str, ToolOutcome]]) -> None:
        self._stragglers.discard(attempt)
        if not attempt.cancelled():
            attempt.exception()  # retrieved: already counted in c_calls, nobody waits for it

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[str, ToolOutcome]:
        """Route one tool call; returns (replica, outcome) or raises a DependencyError."""
        order = self.candidates()
        if not order:
            raise DependencyUnavailable("no healthy ai_memory replica", dependency="mcp-replicas")
        if not self.settings.mcp.gateway.failover:
            order = order[:1]  # weakened: the round robin's pick answers, or the call fails
        deadline = time.monotonic() + self.budget_s
        hedge_s = self.settings.mcp.gateway.hedge_after_ms / 1000
        upcoming = iter(order)
        pending: set[asyncio.Task[tuple[str, ToolOutcome]]] = set()
        last: DependencyError | None = None

        def launch() -> None:
            name = next(upcoming, None)
            remaining = deadline - time.monotonic()
            if name is None or remaining <= 0:
                return
            # hedged: the next replica starts anyway, so each may use the rest of the budget;
            # sequential: an equal share of what is left per replica still to try, so a stalled
            # replica still leaves time to fail over to the next one
            left = len(order) - order.index(name)
            timeout_s = remaining if hedge_s > 0 else remaining / left
            pending.add(asyncio.create_task(self._attempt(name, tool, arguments, timeout_s)))

        launch()
        try:
            while pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait_s = min(hedge_s, remaining) if hedge_s > 0 else remaining
                done, _ = await asyncio.wait(
                    pending, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
                )
                for attempt in done:
                    pending.discard(attempt)
                    error = attempt.exception()
                    if error is None:
                        return attempt.result()
                    if not isinstance(error, DependencyError):
                        raise error
                    last = error
                if done or hedge_s > 0:  # a failure: fail over; nothing yet: hedge
                    launch()
        finally:
            self._let_run(pending)
        if last is None:
            raise ReplicaTimeout(
                "call budget spent before any replica answered", dependency="mcp-replicas"
            )
        raise last
