"""Warehouse queries (the Snowflake stand-in) over the Snowflake connector."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from sut.api import deps

router = APIRouter(prefix="/api/warehouse", tags=["warehouse"])

DAILY = (
    "SELECT day, service, p95_ms, requests FROM perf_metrics "
    "WHERE (%s IS NULL OR service = %s) AND day > (SELECT max(day) FROM perf_metrics) - %s "
    "ORDER BY day DESC, service"
)


async def daily_metrics(request: Request, service: str | None, days: int) -> list[dict[str, Any]]:
    async with deps.connections(request).get_connection("warehouse") as conn:
        rows = await conn.query(DAILY, (service, service, days))
    return [
        {"day": r[0], "service": r[1], "p95_ms": float(r[2]), "requests": int(r[3])} for r in rows
    ]


@router.get("/metrics")
async def warehouse_metrics(
    request: Request, service: str | None = None, days: int = Query(7, ge=1, le=90)
) -> dict[str, Any]:
    return {"rows": await daily_metrics(request, service, days)}
