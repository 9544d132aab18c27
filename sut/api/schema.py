"""Idempotent schema and seed data for Postgres and the warehouse (run at start-up and retried)."""

from __future__ import annotations

from typing import Any

POSTGRES_DDL = """
CREATE TABLE IF NOT EXISTS items (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS item_tags (
    item_id BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (item_id, tag)
);
CREATE INDEX IF NOT EXISTS items_owner ON items (owner_id);
"""

SEED_ITEMS = [
    ("dashboard widget", "user-1", ["ui", "dashboard"]),
    ("latency report", "user-1", ["report"]),
    ("pool tuning", "user-2", ["postgres", "ops"]),
    ("cache warmup", "user-2", []),
]

WAREHOUSE_DDL = (
    "CREATE TABLE IF NOT EXISTS perf_metrics "
    "(day INTEGER, service VARCHAR, p95_ms DOUBLE, requests INTEGER)"
)
SERVICES = ("backend", "gateway", "ai_memory")


async def seed_postgres(connection: Any) -> None:
    """Create tables and, in one transaction, a few rows the first time only."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(724201)")  # replicas may race
        await connection.execute(POSTGRES_DDL)
        if await connection.fetchval("SELECT count(*) FROM items") > 0:
            return
        for name, owner, tags in SEED_ITEMS:
            item_id = await connection.fetchval(
                "INSERT INTO items (name, owner_id) VALUES ($1, $2) RETURNING id", name, owner
            )
            await connection.executemany(
                "INSERT INTO item_tags (item_id, tag) VALUES ($1, $2)", [(item_id, t) for t in tags]
            )


async def seed_warehouse(connection: Any) -> None:
    await connection.query(WAREHOUSE_DDL)
    if (await connection.query("SELECT count(*) FROM perf_metrics"))[0][0] > 0:
        return
    values = ", ".join(
        f"({day}, '{service}', {20 + 3 * day + 7 * i}, {1000 + 50 * day})"
        for day in range(1, 15)
        for i, service in enumerate(SERVICES)
    )
    await connection.query(f"INSERT INTO perf_metrics VALUES {values}")
