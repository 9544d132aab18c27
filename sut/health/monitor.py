"""ComprehensiveHealthMonitor: periodic checks of every dependency and MCP replica.

Keeps the latest status per component, alerts on transitions (kept `alert_retention_h`), pool
utilisation history for a saturation forecast, and the `sut_ready` gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from sut.config import SutSettings
from sut.connections import DEPENDENCIES, UnifiedConnectionManager
from sut.health.trend import seconds_until_saturation

log = logging.getLogger("sut.health")
HISTORY = 120  # utilisation samples kept per pool


@dataclass
class ComponentStatus:
    status: str  # "healthy" | "unhealthy" | "unknown"
    response_time_ms: float | None
    error_message: str | None
    checked_at: float | None


@dataclass(frozen=True)
class Alert:
    at: float
    component: str
    severity: str  # "critical" | "info"
    message: str


class ComprehensiveHealthMonitor:
    def __init__(
        self,
        settings: SutSettings,
        connections: UnifiedConnectionManager,
        on_check: Callable[[str, bool], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.connections = connections
        self.on_check = on_check  # e.g. (re)seed a schema once its dependency answers
        self.components: dict[str, ComponentStatus] = {
            name: ComponentStatus("unknown", None, None, None) for name in DEPENDENCIES
        }
        self.alerts: deque[Alert] = deque()
        self.utilisation: dict[str, deque[tuple[float, float]]] = {
            name: deque(maxlen=HISTORY) for name in DEPENDENCIES
        }
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._http = httpx.AsyncClient(timeout=self.settings.health.check_timeout_s)
        await self.tick()
        self._task = asyncio.create_task(self._loop(), name="sut-health-monitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health.interval_s)
            try:
                await self.tick()
            except Exception:  # one bad tick must not end monitoring
                log.exception("health tick failed")

    async def tick(self) -> None:
        timeout = self.settings.health.check_timeout_s
        checks, replicas = await asyncio.gather(
            self.connections.check_all(timeout), self._check_gateway()
        )
        now = time.time()
        for name, result in checks.items():
            self._record(
                name, result.ok, result.response_time_ms, None if result.ok else result.detail, now
            )
        for name, (ok, ms, error) in replicas.items():
            self._record(name, ok, ms, error, now)
        stats = self.connections.pool_stats()
        for name, pool in stats.items():
            self.utilisation[name].append((time.monotonic(), pool["in_use"] / max(pool["max"], 1)))
        ready = all(result.ok for result in checks.values())
        self.connections.metrics.ready.set(1 if ready else 0)
        self._prune(now)
        if self.on_check is not None:
            for name, result in checks.items():
                await self.on_check(name, result.ok)

    async def _check_gateway(self) -> dict[str, tuple[bool, float | None, str | None]]:
        """The gateway's /health lists each replica; one entry per replica plus the gateway."""
        assert self._http is not None
        start = time.perf_counter()
        url = self.settings.mcp.gateway_url.rstrip("/") + "/health"
        try:
            response = await self._http.get(url)
            body: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as error:
            message = f"gateway unreachable: {type(error).__name__}"
            out: dict[str, tuple[bool, float | None, str | None]] = {
                "mcp_gateway": (False, None, message)
            }
            for replica in self.settings.mcp.replicas:
                out[replica.name] = (False, None, message)
                self._replica_gauge(replica.name, None)
            return out
        elapsed = (time.perf_counter() - start) * 1000
        out = {
            "mcp_gateway": (
                response.status_code == 200,
                elapsed,
                None if response.status_code == 200 else f"HTTP {response.status_code}",
            )
        }
        replicas = body.get("replicas", {}) if isinstance(body, dict) else {}
        for replica in self.settings.mcp.replicas:
            info = replicas.get(replica.name, {})
            ok = bool(info.get("healthy")) and info.get("breaker") != "opened"
            problem = (
                None if ok else f"replica unhealthy (breaker {info.get('breaker', 'unknown')})"
            )
            out[replica.name] = (ok, elapsed, problem)
            self._replica_gauge(replica.name, info if isinstance(info, dict) else None)
        return out

    def _replica_gauge(self, name: str, info: dict[str, Any] | None) -> None:
        """Per-replica routing state on /metrics (the harness probes read it as `breaker.<replica>`)."""
        breaker = info.get("breaker") if info else None
        if info is None or not info.get("healthy") or breaker == "opened":
            state = 2  # out of rotation: the backend's calls cannot reach it
        else:
            state = 1 if breaker == "half-opened" else 0
        self.connections.metrics.mcp_replica_state.labels(name).set(state)

    def _record(self, name: str, ok: bool, ms: float | None, error: str | None, now: float) -> None:
        previous = self.components.get(name)
        status = "healthy" if ok else "unhealthy"
        if (
            previous is not None
            and previous.status != status
            and not (previous.status == "unknown" and ok)
        ):
            severity, verb = ("info", "recovered") if ok else ("critical", "failed")
            message = f"{name} {verb}" + (f": {error}" if error else "")
            self.alerts.append(Alert(now, name, severity, message))
        self.components[name] = ComponentStatus(status, ms, error, now)

    def _prune(self, now: float) -> None:
        horizon = now - self.settings.health.alert_retention_h * 3600
        while self.alerts and self.alerts[0].at < horizon:
            self.alerts.popleft()

    def predictions(self) -> dict[str, float | None]:
        return {
            name: seconds_until_saturation(list(points))
            for name, points in self.utilisation.items()
        }

    def snapshot(self) -> dict[str, Any]:
        deps = {n: c for n, c in self.components.items() if n in DEPENDENCIES}
        overall = (
            "healthy"
            if all(c.status == "healthy" for c in self.components.values())
            else "degraded"
        )
        if any(c.status == "unhealthy" for c in deps.values()):
            overall = "unhealthy"
        return {
            "status": overall,
            "components": {name: asdict(c) for name, c in self.components.items()},
            "pools": self.connections.pool_stats(),
            "alerts": [asdict(a) for a in reversed(self.alerts)],
            "predictions": {
                name: {"seconds_until_pool_saturation": value}
                for name, value in self.predictions().items()
            },
        }
