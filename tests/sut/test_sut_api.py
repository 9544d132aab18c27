"""The backend API against real Postgres, Redis and fakesnow (in-process app, real lifespan)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sut_app_support import running

from fixtures.local.services import LocalService
from sut.api import create_app
from sut.config import SutSettings, load_sut_settings

pytestmark = pytest.mark.integration

ConfigFactory = Callable[..., Path]
Eventually = Callable[[Callable[[], bool], float], Awaitable[float]]
SessionCount = Callable[[], Awaitable[int]]
PROBLEM = "application/problem+json"


@pytest.fixture
async def api(sut_settings: SutSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running(sut_settings) as pair:
        yield pair


def _assert_problem(
    response: httpx.Response, status: int, dependency: str | None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert body.get("dependency") == dependency
    return body


async def test_readiness_flips_to_503_when_postgres_stops_and_back_after_restart(
    api: tuple[FastAPI, httpx.AsyncClient], pg: LocalService
) -> None:
    app, client = api
    timeout = app.state.settings.health.check_timeout_s
    assert (await client.get("/api/ready")).status_code == 200
    pg.kill()  # SIGTERM would be Postgres' "smart" shutdown, which waits for our pooled clients
    start = time.monotonic()
    response = await client.get("/api/ready")
    assert time.monotonic() - start <= timeout + 0.5
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["postgres"]["ok"] is False
    assert body["checks"]["postgres"]["detail"]
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["warehouse"]["ok"] is True
    pg.restart()
    deadline = time.monotonic() + 15
    while (await client.get("/api/ready")).status_code != 200:
        assert time.monotonic() < deadline, "readiness did not come back after Postgres restarted"
        await asyncio.sleep(0.1)


async def test_pool_exhaustion_gives_503_problem_within_the_acquire_timeout(
    sut_config_factory: ConfigFactory, eventually: Eventually
) -> None:
    settings = load_sut_settings(
        sut_config_factory(**{"postgres.pool.max_size": 2, "postgres.pool.acquire_timeout_s": 0.5})
    )
    async with running(settings) as (app, client):
        release, held = asyncio.Event(), []

        async def hold() -> None:
            async with app.state.connections.get_connection("postgres") as conn:
                held.append(conn)
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        try:
            await eventually(lambda: len(held) == 2, 5)
            start = time.monotonic()
            response = await client.get("/api/items")
            elapsed = time.monotonic() - start
        finally:
            release.set()
            await asyncio.gather(*holders)
        body = _assert_problem(response, 503, "postgres")
        assert body["title"] == "Connection pool exhausted"
        assert 0.45 <= elapsed <= 0.5 + 1.0
        assert (await client.get("/api/items")).status_code == 200  # freed connections serve again


async def test_open_breaker_answers_503_at_once_and_closes_after_recovery(
    api: tuple[FastAPI, httpx.AsyncClient], pg: LocalService, eventually: Eventually
) -> None:
    app, client = api
    breaker = app.state.settings.postgres.breaker
    pg.kill()
    for _ in range(breaker.failure_threshold):
        _assert_problem(await client.get("/api/items"), 503, "postgres")
    start = time.monotonic()
    body = _assert_problem(await client.get("/api/items"), 503, "postgres")
    assert body["title"] == "Circuit breaker open"
    assert time.monotonic() - start < 0.2
    metrics = (await client.get("/metrics")).text
    assert 'sut_breaker_state{dependency="postgres"} 2.0' in metrics
    pg.restart()
    tracker = app.state.connections.breakers["postgres"]
    await eventually(lambda: tracker.effective_state == 1, breaker.recovery_timeout_s + 2)
    assert 'sut_breaker_state{dependency="postgres"} 1.0' in (await client.get("/metrics")).text
    deadline = time.monotonic() + 10
    while (await client.get("/api/items")).status_code != 200:  # half-open trial, then closed
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert 'sut_breaker_state{dependency="postgres"} 0.0' in (await client.get("/metrics")).text


# The connector's query-cancel timer thread raises when the warehouse is gone (third-party thread).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_dashboard_serves_partial_data_when_the_warehouse_is_down(
    api: tuple[FastAPI, httpx.AsyncClient], warehouse: LocalService, eventually: Eventually
) -> None:
    app, client = api
    healthy = await client.get("/api/dashboard/performance", params={"user_id": "u-ok"})
    assert healthy.status_code == 200
    assert "x-dashboard-degraded" not in healthy.headers
    assert healthy.json()["performance_trends"]["status"] == "ok"
    warehouse.kill()
    response = await client.get("/api/dashboard/performance", params={"user_id": "u-partial"})
    assert response.status_code == 200
    assert response.headers["x-dashboard-degraded"] == "performance_trends"
    body = response.json()
    assert body["performance_trends"]["status"] == "degraded"
    assert body["performance_trends"]["dependency"] == "warehouse"
    for part in ("system_health", "service_metrics", "alert_summary"):
        assert body[part]["status"] == "ok", (part, body[part])
    again = await client.get("/api/dashboard/performance", params={"user_id": "u-partial"})
    assert again.headers["x-dashboard-cache"] == "miss"  # a degraded answer is never cached
    # parts past their deadline finish in the background (the connector's threads with them)
    await eventually(lambda: app.state.background.pending == 0, 10)


async def test_dashboard_is_cached_and_served_uncached_when_redis_is_down(
    api: tuple[FastAPI, httpx.AsyncClient], redis_server: LocalService
) -> None:
    _, client = api
    first = await client.get("/api/dashboard/performance", params={"user_id": "u1"})
    second = await client.get("/api/dashboard/performance", params={"user_id": "u1"})
    assert (first.headers["x-dashboard-cache"], second.headers["x-dashboard-cache"]) == (
        "miss",
        "hit",
    )
    assert second.content == first.content
    redis_server.kill()
    response = await client.get("/api/dashboard/performance", params={"user_id": "u1"})
    assert response.status_code == 200
    assert response.headers["x-dashboard-cache"] == "miss"
    assert "x-dashboard-degraded" not in response.headers


async def test_item_list_fetches_a_page_with_its_tags_in_one_query(
    sut_config_factory: ConfigFactory,
) -> None:
    # No health tick during the count: its SELECT 1 would be counted too.
    settings = load_sut_settings(sut_config_factory(**{"health.interval_s": 600}))
    async with running(settings) as (app, client):
        await _check_one_query_per_page(app, client)


async def _check_one_query_per_page(app: FastAPI, client: httpx.AsyncClient) -> None:
    for i in range(30):
        created = await client.post(
            "/api/items", json={"name": f"n{i}", "owner_id": "bulk", "tags": [f"t{i}", "common"]}
        )
        assert created.status_code == 201
    registry = app.state.metrics.registry

    def queries() -> float:
        value = registry.get_sample_value(
            "sut_db_queries_total", {"dependency": "postgres", "kind": "app"}
        )
        return value or 0.0

    before = queries()
    page = await client.get("/api/items", params={"owner_id": "bulk", "limit": 25})
    assert queries() - before == 1
    items = page.json()["items"]
    assert len(items) == 25
    assert all(item["tags"] == sorted([f"t{item['name'][1:]}", "common"]) for item in items)
    rest = await client.get(
        "/api/items",
        params={"owner_id": "bulk", "limit": 25, "after_id": page.json()["next_after_id"]},
    )
    assert len(rest.json()["items"]) == 5
    assert rest.json()["next_after_id"] is None


async def test_item_crud_and_problem_json_errors(api: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = api
    item = (
        await client.post("/api/items", json={"name": "a", "owner_id": "o", "tags": ["x"]})
    ).json()
    updated = await client.put(
        f"/api/items/{item['id']}", json={"name": "b", "owner_id": "o", "tags": []}
    )
    assert updated.json()["name"] == "b"
    assert updated.json()["tags"] == []
    assert (await client.delete(f"/api/items/{item['id']}")).status_code == 204
    _assert_problem(await client.get(f"/api/items/{item['id']}"), 404, None)
    _assert_problem(await client.get("/api/items", params={"limit": 0}), 422, None)
    _assert_problem(await client.get("/no/such/route"), 404, None)


BEYOND_BIGINT = str(2**63)  # schemathesis found 500s here (asyncpg DataError)
BAD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", f"/api/items/{BEYOND_BIGINT}", {}),
    ("GET", "/api/items/99999999999999999999999", {}),
    ("GET", "/api/items/0", {}),
    ("PUT", f"/api/items/{BEYOND_BIGINT}", {"json": {"name": "a", "owner_id": "o"}}),
    ("DELETE", f"/api/items/{BEYOND_BIGINT}", {}),
    ("GET", "/api/items", {"params": {"after_id": BEYOND_BIGINT}}),
    ("GET", "/api/items", {"params": {"owner_id": "a\x00b"}}),
    ("POST", "/api/items", {"json": {"name": "a\x00b", "owner_id": "o"}}),
    ("POST", "/api/items", {"json": {"name": "a", "owner_id": "\x00"}}),
    ("POST", "/api/items", {"json": {"name": "a", "owner_id": "o", "tags": ["t\x00"]}}),
    ("PUT", "/api/items/1", {"json": {"name": "a\x00", "owner_id": "o"}}),
]


async def test_bad_item_requests_are_422_problems_not_500(
    api: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = api
    for method, url, extra in BAD_REQUESTS:
        response = await client.request(method, url, **extra)
        body = _assert_problem(response, 422, None)
        assert body["type"].endswith("/invalid-request"), (method, url, body)
    # the largest BIGINT is a valid id: no such item, not a 500
    _assert_problem(await client.get(f"/api/items/{2**63 - 1}"), 404, None)


@pytest.mark.unit
def test_openapi_lists_the_problem_answers_items_give() -> None:
    doc = create_app(SutSettings()).openapi()
    items = {
        (method, path): operation
        for path, ops in doc["paths"].items()
        if path.startswith("/api/items")
        for method, operation in ops.items()
    }
    assert len(items) == 5
    for (method, path), operation in items.items():
        expected = {"422", "503"} | ({"404"} if "{item_id}" in path else set())
        assert expected <= operation["responses"].keys(), (method, path)
        for status in expected:
            content = operation["responses"][status]["content"]
            assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    item_id = next(
        p for p in items[("get", "/api/items/{item_id}")]["parameters"] if p["name"] == "item_id"
    )
    assert item_id["schema"]["maximum"] == 2**63 - 1


async def test_warehouse_metrics_come_from_the_warehouse(
    api: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = api
    rows = (
        await client.get("/api/warehouse/metrics", params={"service": "backend", "days": 3})
    ).json()["rows"]
    assert [r["day"] for r in rows] == [14, 13, 12]
    assert {r["service"] for r in rows} == {"backend"}


async def test_app_shutdown_leaks_no_connection_thread_or_task(
    sut_settings: SutSettings, other_postgres_sessions: SessionCount
) -> None:
    threads_before = set(threading.enumerate())
    tasks_before = asyncio.all_tasks()
    async with running(sut_settings) as (_, client):
        assert (await client.get("/api/dashboard/performance")).status_code == 200
        assert (await client.get("/api/ready")).status_code == 200
    assert {t for t in threading.enumerate() if t.is_alive()} - threads_before == set()
    assert asyncio.all_tasks() - tasks_before == set()
    assert await other_postgres_sessions() == 0


async def test_a_postgres_that_does_not_answer_in_time_gives_504_problem(
    api: tuple[FastAPI, httpx.AsyncClient], pg: LocalService
) -> None:
    # An exclusive lock held elsewhere makes the list query wait until statement_timeout fires.
    # (SIGSTOP would not do: Postgres backends run in their own sessions, so pausing the
    # postmaster's group leaves established connections answering.)
    app, client = api
    timeout = app.state.settings.postgres.statement_timeout_s
    assert (await client.get("/api/items")).status_code == 200
    locker = await asyncpg.connect(
        host=pg.host, port=pg.port, user="postgres", database="chaosgate"
    )
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
            start = time.monotonic()
            response = await client.get("/api/items")
            elapsed = time.monotonic() - start
    finally:
        await locker.close()
    body = _assert_problem(response, 504, "postgres")
    assert body["title"] == "Dependency timeout"
    assert timeout * 0.9 <= elapsed <= timeout + 1.0
