"""`create_app(settings)`: the backend's FastAPI app. All wiring lives here.

The lifespan starts, in order, the connection manager, the optional MCP gateway client and
WebSocket manager (mounted when `sut.mcp` / `sut.ws` are present), then the health monitor;
it stops them in reverse order.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sut.api import problems
from sut.api.admission import AdmissionLimit
from sut.api.background import Background
from sut.api.routes import dashboard, health, items, metrics, warehouse
from sut.api.schema import seed_postgres, seed_warehouse
from sut.api.timing import RequestTimer
from sut.config import SutSettings
from sut.connections import UnifiedConnectionManager
from sut.errors import DependencyError, DependencyUnavailable
from sut.health import ComprehensiveHealthMonitor
from sut.mcp import routes as mcp_routes
from sut.mcp.client import GatewayClient
from sut.metrics import SutMetrics
from sut.ws import routes as ws_routes
from sut.ws.manager import ResilientWebSocketManager

log = logging.getLogger("sut.api")


class Component(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...


class Seeder:
    """Creates the schema and seed rows as soon as a dependency answers, and again after it was
    down (a crashed Postgres with synchronous_commit=off may come back without recent DDL)."""

    def __init__(self, connections: UnifiedConnectionManager) -> None:
        self.connections = connections
        self.done: set[str] = set()

    async def ensure(self, name: str, healthy: bool) -> None:
        if not healthy:
            self.done.discard(name)
            return
        if name in self.done or name not in ("postgres", "warehouse"):
            return
        seed = seed_postgres if name == "postgres" else seed_warehouse
        try:
            async with self.connections.get_connection(name) as conn:  # type: ignore[arg-type]
                await seed(conn)
        except DependencyError as error:
            log.warning("seeding %s deferred: %s", name, error)
            return
        self.done.add(name)


def create_app(settings: SutSettings) -> FastAPI:
    metrics_ = SutMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connections = UnifiedConnectionManager(settings, metrics_)
        await connections.start()
        seeder = app.state.seeder = Seeder(connections)
        monitor = ComprehensiveHealthMonitor(settings, connections, on_check=seeder.ensure)
        app.state.connections = connections
        app.state.health_monitor = monitor
        started: list[Component] = []
        try:
            for component in _components(app, settings, connections, metrics_):
                await component.start()
                started.append(component)
            await monitor.start()
            started.append(monitor)
            yield
        finally:
            for component in reversed(started):
                try:
                    await component.close()
                except Exception:  # keep closing the rest
                    log.exception("closing %s failed", type(component).__name__)
            await connections.close()

    app = FastAPI(title="chaosgate reference SUT", lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics_
    problems.install(app)
    app.add_exception_handler(asyncpg.UndefinedTableError, _schema_missing)
    for module in (health, dashboard, items, warehouse, metrics, mcp_routes, ws_routes):
        app.include_router(module.router)
    if settings.service.max_in_flight:
        app.add_middleware(AdmissionLimit, max_in_flight=settings.service.max_in_flight)
    app.add_middleware(RequestTimer, metrics=metrics_)  # outermost: it times the 503s too
    return app


async def _schema_missing(request: Request, error: Exception) -> JSONResponse:
    """A Postgres that crashed right after start-up can come back without our tables: answer
    503 and let the next health tick re-create them."""
    request.app.state.seeder.done.discard("postgres")
    missing = DependencyUnavailable(
        f"schema not ready ({error}); re-creating it", dependency="postgres"
    )
    return problems.problem_response(missing.problem(), {"Retry-After": "1"})


def _components(
    app: FastAPI,
    settings: SutSettings,
    connections: UnifiedConnectionManager,
    metrics_: SutMetrics,
) -> list[Component]:
    app.state.background = Background()  # closed last of these, before the connections
    app.state.gateway_client = GatewayClient(settings.mcp)
    ws_manager = app.state.ws_manager = ResilientWebSocketManager(connections, settings.websocket)
    metrics_.ws_queue_depth.set_function(ws_manager.queue_depth)
    return [app.state.background, app.state.gateway_client, ws_manager]
