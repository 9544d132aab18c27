"""The performance dashboard: four parts gathered in parallel, cached in Redis, partial on failure.

A part that fails is returned as `{"status": "degraded", "error": ...}` and named in the
`X-Dashboard-Degraded` header; a degraded answer is never cached. Redis down → served uncached.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from sut.api import deps
from sut.api.routes.warehouse import daily_metrics
from sut.errors import DependencyError

router = APIRouter(prefix="/api/dashboard", tags=["dashboard"])

Part = Callable[[Request, str], Awaitable[dict[str, Any]]]


async def system_health(request: Request, user_id: str) -> dict[str, Any]:
    snapshot = deps.monitor(request).snapshot()
    return {
        "overall": snapshot["status"],
        "components": snapshot["components"],
        "pools": snapshot["pools"],
    }


async def service_metrics(request: Request, user_id: str) -> dict[str, Any]:
    async with deps.connections(request).get_connection("postgres") as conn:
        row = await conn.fetchrow(
            "SELECT count(*) AS total, count(*) FILTER (WHERE owner_id = $1) AS mine, "
            "max(created_at) AS latest FROM items",
            user_id,
        )
    latest = row["latest"].isoformat() if row["latest"] else None
    return {"items_total": row["total"], "items_owned": row["mine"], "latest_item_at": latest}


async def performance_trends(request: Request, user_id: str) -> dict[str, Any]:
    rows = await daily_metrics(request, None, 7)
    by_service: dict[str, list[float]] = {}
    for row in sorted(rows, key=lambda r: r["day"]):
        by_service.setdefault(row["service"], []).append(row["p95_ms"])
    return {"p95_ms_by_service": by_service}


async def alert_summary(request: Request, user_id: str) -> dict[str, Any]:
    alerts = list(deps.monitor(request).alerts)
    critical = [a for a in alerts if a.severity == "critical"]
    latest = alerts[-1].message if alerts else None
    return {"total": len(alerts), "critical": len(critical), "latest": latest}


PARTS: dict[str, Part] = {
    "system_health": system_health,
    "service_metrics": service_metrics,
    "performance_trends": performance_trends,
    "alert_summary": alert_summary,
}


async def _cached(request: Request, key: str) -> bytes | None:
    try:
        async with deps.connections(request).get_connection("redis") as redis:
            value: bytes | None = await redis.get(key)
            return value
    except DependencyError:
        return None


async def _store(request: Request, key: str, body: bytes, ttl_s: float) -> None:
    try:
        async with deps.connections(request).get_connection("redis") as redis:
            await redis.set(key, body, px=int(ttl_s * 1000))
    except DependencyError:
        return  # serving uncached is the designed fallback


@router.get("/performance")
async def performance(
    request: Request, user_id: str = Query("anonymous", max_length=100)
) -> Response:
    settings = deps.settings(request)
    key = f"sut:dashboard:performance:{user_id}"
    use_cache = settings.cache.enabled
    cache_counter = deps.metrics(request).dashboard_cache
    if use_cache and (hit := await _cached(request, key)) is not None:
        cache_counter.labels("hit").inc()
        return Response(hit, media_type="application/json", headers={"X-Dashboard-Cache": "hit"})
    results = await asyncio.gather(
        *(part(request, user_id) for part in PARTS.values()), return_exceptions=True
    )
    body: dict[str, Any] = {"user_id": user_id}
    degraded = []
    for name, result in zip(PARTS, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            degraded.append(name)
            dependency = getattr(result, "dependency", None)
            body[name] = {"status": "degraded", "error": str(result), "dependency": dependency}
        else:
            body[name] = {"status": "ok", **result}
    body["degraded"] = degraded
    encoded = json.dumps(body, separators=(",", ":")).encode()
    headers = {"X-Dashboard-Cache": "miss" if use_cache else "disabled"}
    if degraded:
        headers["X-Dashboard-Degraded"] = ",".join(degraded)
    elif use_cache:
        await _store(request, key, encoded, settings.cache.dashboard_ttl_s)
    cache_counter.labels("miss").inc()
    return Response(encoded, media_type="application/json", headers=headers)
