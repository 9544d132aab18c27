"""StandardizedMCPServer: the one start-up, health, metrics and shutdown shape of every MCP server.

Start-up order: dependency connections → server-specific init → health monitor. The health check
has three parts (connections, resources, server-specific); `GET /health` answers 200 while every
critical check holds, 503 otherwise, with per-check detail. `GET /metrics` is Prometheus text from a
registry owned by this server (several servers can live in one test process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from mcp.server import MCPServer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sut.config import SutSettings

log = logging.getLogger(__name__)


Dependency = Literal["postgres", "redis", "warehouse"]


class ConnectionSource(Protocol):
    """What an MCP server needs from the UnifiedConnectionManager."""

    async def start(self) -> None: ...
    def get_connection(self, name: Dependency) -> AbstractAsyncContextManager[Any]: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    response_time_ms: float
    critical: bool = True


@dataclass(frozen=True)
class HealthReport:
    status: str  # "healthy" | "degraded" | "unhealthy"
    checks: list[CheckResult]

    @property
    def healthy(self) -> bool:
        return self.status != "unhealthy"

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "checks": {c.name: asdict(c) for c in self.checks}}


def default_connections(settings: SutSettings) -> ConnectionSource:
    from sut.connections import UnifiedConnectionManager  # SUT-core's manager

    manager: ConnectionSource = UnifiedConnectionManager(settings)
    return manager


async def timed_check(
    name: str, probe: Callable[[], Awaitable[str]], timeout_s: float, *, critical: bool = True
) -> CheckResult:
    """Run one probe within `timeout_s`; any failure becomes a failed check with its reason."""
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            detail = await probe()
        ok = True
    except TimeoutError:
        ok, detail = False, f"no answer within {timeout_s:g}s"
    except Exception as error:  # a health check reports every failure, it never raises
        ok, detail = False, f"{type(error).__name__}: {error}"
    elapsed = (time.perf_counter() - start) * 1000
    return CheckResult(name, ok, detail, round(elapsed, 2), critical)


class StandardizedMCPServer:
    """Base of every MCP server in the SUT. Subclasses register tools and override the hooks."""

    #: Dependencies this server uses; a non-critical one only degrades health.
    dependencies: dict[Dependency, bool] = {"postgres": True, "redis": False}

    def __init__(
        self,
        name: str,
        settings: SutSettings,
        connections: ConnectionSource | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.connections = connections or default_connections(settings)
        self.mcp: MCPServer[Any] = MCPServer(name, log_level="WARNING")
        self.registry = CollectorRegistry()
        self._healthy = Gauge(
            "mcp_server_healthy", "1 while the last health check passed", registry=self.registry
        )
        self._check_ok = Gauge(
            "mcp_health_check_ok", "last result per check", ["check"], registry=self.registry
        )
        self._loop_lag = Gauge(
            "mcp_event_loop_lag_seconds", "monitor wake-up delay", registry=self.registry
        )
        self._monitor: asyncio.Task[None] | None = None
        self._lag_s = 0.0
        self._started = False
        self.last_report: HealthReport | None = None

    # --- hooks for subclasses -------------------------------------------------------------
    async def server_init(self) -> None:
        """Server-specific start-up (schema, caches); runs after connections are up."""

    async def server_close(self) -> None:
        """Server-specific shutdown; runs before connections close."""

    async def server_checks(self) -> list[CheckResult]:
        """Server-specific health checks."""
        return []

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        await self.connections.start()
        await self.server_init()
        self._monitor = asyncio.create_task(self._monitor_loop(), name=f"{self.name}-health")
        self._started = True

    async def stop(self) -> None:
        """Graceful stop: monitor first, then the server, then its connections."""
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        if self._started:
            await self.server_close()
        await self.connections.close()
        self._started = False

    async def _monitor_loop(self) -> None:
        interval = self.settings.health.interval_s
        while True:
            before = time.monotonic()
            await asyncio.sleep(interval)  # the monitor's period, not synchronisation
            self._lag_s = max(0.0, time.monotonic() - before - interval)
            self._loop_lag.set(self._lag_s)
            await self.check()

    # --- health -------------------------------------------------------------------------------
    async def _dependency_probe(self, service: Dependency) -> str:
        async with self.connections.get_connection(service) as conn:
            if service == "redis":
                await conn.ping()
            else:
                await conn.fetchval("select 1")
        return "ok"

    async def _dependency_check(
        self, service: Dependency, critical: bool, limit_s: float
    ) -> CheckResult:
        async def probe() -> str:
            return await self._dependency_probe(service)

        return await timed_check(f"connection:{service}", probe, limit_s, critical=critical)

    async def _resources_probe(self) -> str:
        if self._monitor is None or self._monitor.done():
            raise RuntimeError("health monitor is not running")
        budget = self.settings.health.check_timeout_s
        if self._lag_s > budget:
            raise RuntimeError(f"event loop lag {self._lag_s:.3f}s exceeds {budget:g}s")
        return f"monitor running, loop lag {self._lag_s * 1000:.1f} ms"

    async def check(self) -> HealthReport:
        timeout = self.settings.health.check_timeout_s
        probes = [
            self._dependency_check(dep, crit, timeout) for dep, crit in self.dependencies.items()
        ]
        probes.append(timed_check("resources", self._resources_probe, timeout))
        checks = list(await asyncio.gather(*probes))
        checks += await self.server_checks()
        if any(c.critical and not c.ok for c in checks):
            status = "unhealthy"
        elif any(not c.ok for c in checks):
            status = "degraded"
        else:
            status = "healthy"
        report = HealthReport(status, checks)
        self._healthy.set(1 if report.healthy else 0)
        for c in checks:
            self._check_ok.labels(c.name).set(1 if c.ok else 0)
        self.last_report = report
        return report

    # --- HTTP -------------------------------------------------------------------------------
    async def _health_endpoint(self, request: Request) -> Response:
        report = await self.check()
        return JSONResponse(report.as_json(), status_code=200 if report.healthy else 503)

    async def _metrics_endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def asgi_app(self, host: str = "127.0.0.1") -> Starlette:
        """MCP streamable HTTP at `/mcp`, plus `/health` and `/metrics`; lifespan runs start/stop.

        `host` is where it listens: on 127.0.0.1/localhost the SDK accepts only those Host
        headers (DNS-rebinding guard); on 0.0.0.0 (a container) it accepts any.
        """
        self.mcp.custom_route("/health", methods=["GET"])(self._health_endpoint)
        self.mcp.custom_route("/metrics", methods=["GET"])(self._metrics_endpoint)
        app = self.mcp.streamable_http_app(host=host)
        sdk_lifespan = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(inner: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                async with sdk_lifespan(inner):
                    yield
            finally:
                await self.stop()

        app.router.lifespan_context = lifespan
        return app
