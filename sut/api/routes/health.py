"""Liveness, readiness (real dependency checks) and the health dashboard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sut.api import deps

router = APIRouter(tags=["health"])


@router.get("/api/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers; no dependency is touched."""
    return {"status": "ok"}


@router.get("/api/ready")
async def ready(request: Request) -> JSONResponse:
    settings = deps.settings(request)
    checks = await deps.connections(request).check_all(settings.health.check_timeout_s)
    ok = all(c.ok for c in checks.values())
    body: dict[str, Any] = {
        "status": "ready" if ok else "not_ready",
        "checks": {
            name: {"ok": c.ok, "detail": c.detail, "response_time_ms": round(c.response_time_ms, 2)}
            for name, c in checks.items()
        },
    }
    deps.metrics(request).ready.set(1 if ok else 0)
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/api/health/dashboard")
async def health_dashboard(request: Request) -> dict[str, Any]:
    return deps.monitor(request).snapshot()
