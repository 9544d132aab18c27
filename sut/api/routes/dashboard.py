"""The performance dashboard: four parts gathered in parallel, cached in Redis, partial on failure.

While a dependency is broken the dashboard still answers within its deadline:

- **Per-part deadline** (`dashboard.part_deadline_ms`): a part not done by then is answered as
  `{"status": "degraded", "error": ..., "dependency": ...}` (named in `X-Dashboard-Degraded` and
  the body's `degraded` list); it keeps running in the background so the dependency's breaker
  sees how it really ended. A failing part is degraded the same way (`return_exceptions` style).
  A degraded answer is never cached; with the cache on, ONE background refresh per key computes
  it whole (no part deadline), so the next answer is a hit rather than degraded again.
- **Stale-while-revalidate** (`dashboard.stale_while_revalidate`): an answer past its TTL is
  still served (`X-Dashboard-Cache: stale`, `Age`) for up to `dashboard.stale_for_s` while ONE
  background refresh per key recomputes it; a degraded answer is never cached, so the last good
  one keeps being served until the dependency is back.
- **Cache read deadline** (`cache.deadline_ms`): a slow Redis is a cache miss.

Each knob has an off value (0 / false) so a test can weaken the SUT; Redis down -> uncached.
`cache.fail_open: false` and `dashboard.partial_answers: false` turn the fallbacks off: the
request fails with 503 instead (the gate's fast-failure weakenings).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from sut.api import deps
from sut.api.background import Background, Missed
from sut.api.routes.warehouse import daily_metrics
from sut.config import SutSettings
from sut.connections.postgres import PostgresPool
from sut.errors import DependencyError, DependencyUnavailable

router = APIRouter(prefix="/api/dashboard", tags=["dashboard"])

Part = Callable[[Request, str], Coroutine[Any, Any, dict[str, Any]]]


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
# The dependency a part waits on (named in its degraded entry when it misses its deadline).
PART_DEPENDENCY: dict[str, str | None] = {
    "system_health": None,
    "service_metrics": "postgres",
    "performance_trends": "warehouse",
    "alert_summary": None,
}


def _deadline(ms: int) -> float | None:
    return ms / 1000 if ms > 0 else None


def _background(request: Request) -> Background:
    value: Background = request.app.state.background
    return value


def encode_entry(body: bytes, stored_at: float) -> bytes:
    """A cache entry: the time it was computed on the first line, then the JSON answer."""
    return f"{stored_at:.3f}\n".encode() + body


def decode_entry(raw: bytes) -> tuple[float, bytes] | None:
    stamp, sep, body = raw.partition(b"\n")
    try:
        return (float(stamp), body) if sep else None
    except ValueError:
        return None  # an entry in another format: a miss


async def _read(request: Request, key: str) -> bytes | None:
    async with deps.connections(request).get_connection("redis") as redis:
        value: bytes | None = await redis.get(key)
        return value


async def _cached(request: Request, key: str) -> tuple[float, bytes] | None:
    deadline = _deadline(deps.settings(request).cache.deadline_ms)
    try:
        raw = await _background(request).within(_read(request, key), deadline, f"read {key}")
    except (DependencyError, Missed) as error:
        if not deps.settings(request).cache.fail_open:  # weakened: no fallback past the cache
            raise DependencyUnavailable(f"dashboard cache: {error}", dependency="redis") from None
        _cache_outage(request, True)
        return None  # a cache that fails or is slow is a miss
    _cache_outage(request, False)
    return decode_entry(raw) if raw is not None else None


def _cache_outage(request: Request, failing: bool) -> None:
    """Tell the Postgres pool whether the cache is failing: read only by the test-only
    weakening `postgres.leak_on_error_in_cache_outage` (its cache-outage mode)."""
    pool = deps.connections(request).pools["postgres"]
    if isinstance(pool, PostgresPool):
        pool.cache_outage = failing


async def _store(request: Request, key: str, body: bytes, settings: SutSettings) -> None:
    ttl_s = settings.cache.dashboard_ttl_s
    if settings.dashboard.stale_while_revalidate:
        ttl_s += settings.dashboard.stale_for_s  # kept past freshness to be served stale
    try:
        async with deps.connections(request).get_connection("redis") as redis:
            await redis.set(key, encode_entry(body, time.time()), px=int(ttl_s * 1000))
    except DependencyError:
        return  # serving uncached is the designed fallback


async def build(
    request: Request, user_id: str, deadline_s: float | None
) -> tuple[bytes, list[str]]:
    """All parts in parallel, each answered by `deadline_s` or marked degraded."""
    background = _background(request)
    results = await asyncio.gather(
        *(
            background.within(part(request, user_id), deadline_s, f"dashboard {name}")
            for name, part in PARTS.items()
        ),
        return_exceptions=True,
    )
    body: dict[str, Any] = {"user_id": user_id}
    degraded = []
    for name, result in zip(PARTS, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            degraded.append(name)
            dependency = getattr(result, "dependency", None) or PART_DEPENDENCY[name]
            body[name] = {"status": "degraded", "error": str(result), "dependency": dependency}
        else:
            body[name] = {"status": "ok", **result}
    body["degraded"] = degraded
    return json.dumps(body, separators=(",", ":")).encode(), degraded


async def _refresh(request: Request, user_id: str, key: str) -> None:
    """Recompute without a part deadline; only a complete answer replaces the cached one."""
    body, degraded = await build(request, user_id, None)
    if not degraded:
        await _store(request, key, body, deps.settings(request))


def _json(body: bytes, headers: dict[str, str]) -> Response:
    return Response(body, media_type="application/json", headers=headers)


@router.get("/performance")
async def performance(
    request: Request, user_id: str = Query("anonymous", max_length=100)
) -> Response:
    settings = deps.settings(request)
    key = f"sut:dashboard:performance:{user_id}"
    use_cache = settings.cache.enabled
    cache_counter = deps.metrics(request).dashboard_cache
    if use_cache and (entry := await _cached(request, key)) is not None:
        stored_at, cached = entry
        age = max(0.0, time.time() - stored_at)
        if age < settings.cache.dashboard_ttl_s:
            cache_counter.labels("hit").inc()
            return _json(cached, {"X-Dashboard-Cache": "hit"})
        swr = settings.dashboard
        if swr.stale_while_revalidate and age < settings.cache.dashboard_ttl_s + swr.stale_for_s:
            _background(request).once(key, _refresh(request, user_id, key))
            cache_counter.labels("stale").inc()
            return _json(cached, {"X-Dashboard-Cache": "stale", "Age": str(int(age))})
    encoded, degraded = await build(
        request, user_id, _deadline(settings.dashboard.part_deadline_ms)
    )
    headers = {"X-Dashboard-Cache": "miss" if use_cache else "disabled"}
    if degraded and not settings.dashboard.partial_answers:  # weakened: all or nothing
        raise DependencyUnavailable(f"dashboard parts degraded: {', '.join(degraded)}")
    if degraded:
        headers["X-Dashboard-Degraded"] = ",".join(degraded)
        if use_cache:  # compute it whole in the background (once per key): the next is a hit
            _background(request).once(key, _refresh(request, user_id, key))
    elif use_cache:  # stored in the background: a slow Redis never delays the answer
        _background(request).once(f"store {key}", _store(request, key, encoded, settings))
    cache_counter.labels("miss").inc()
    return _json(encoded, headers)
