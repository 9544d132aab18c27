"""Run one MCP/WS process for the tests: `python serve_mcp_ws.py CONFIG ROLE [REPLICA]`.

Roles: `ai_memory` (a replica), `gateway`, `ws` (a backend serving only the WebSocket routes, so
these tests do not depend on the full API). uvicorn handles SIGTERM with a graceful shutdown.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from sut.config import SutSettings, load_sut_settings
from sut.connections import UnifiedConnectionManager
from sut.mcp.ai_memory import create_replica_app
from sut.mcp.gateway import create_gateway_app
from sut.ws.manager import ResilientWebSocketManager
from sut.ws.routes import router as ws_router


def ws_backend(settings: SutSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connections = UnifiedConnectionManager(settings)
        await connections.start()
        manager = ResilientWebSocketManager(connections, settings.websocket)
        await manager.start()
        app.state.ws_manager = manager
        try:
            yield
        finally:
            await manager.close()
            await connections.close()

    app = FastAPI(lifespan=lifespan)
    app.include_router(ws_router)
    return app


def main(argv: list[str]) -> None:
    config, role, *rest = argv
    settings = load_sut_settings(config)
    if role == "ai_memory":
        replica = settings.mcp.replica(rest[0])
        app, host, port = (
            create_replica_app(settings, replica.name),
            replica.host,
            replica.listen_port,
        )
    elif role == "gateway":
        gw = settings.mcp.gateway
        app, host, port = create_gateway_app(settings), gw.host, gw.port
    elif role == "ws":
        app, host, port = ws_backend(settings), settings.service.host, settings.service.port
    else:
        raise SystemExit(f"unknown role {role!r}")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=int(settings.service.shutdown_timeout_s),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
