"""Items in Postgres: CRUD plus a keyset-paginated list that fetches each page in ONE query."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from sut.api import deps
from sut.errors import NotFound

router = APIRouter(prefix="/api/items", tags=["items"])

# One round trip per page: tags are aggregated in the same statement (no per-item query).
LIST_PAGE = """
SELECT i.id, i.name, i.owner_id, i.created_at,
       COALESCE(array_agg(t.tag ORDER BY t.tag) FILTER (WHERE t.tag IS NOT NULL), '{}') AS tags
FROM items i LEFT JOIN item_tags t ON t.item_id = i.id
WHERE i.id > $1 AND ($2::text IS NULL OR i.owner_id = $2)
GROUP BY i.id ORDER BY i.id LIMIT $3
"""
GET_ONE = LIST_PAGE.replace(
    "WHERE i.id > $1 AND ($2::text IS NULL OR i.owner_id = $2)", "WHERE i.id = $1"
).replace("LIMIT $3", "")


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    owner_id: str = Field(min_length=1, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=50)


def _item(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "owner_id": row["owner_id"],
        "created_at": row["created_at"].isoformat(),
        "tags": list(row["tags"]),
    }


@router.get("")
async def list_items(
    request: Request,
    after_id: int = Query(0, ge=0),
    limit: int = Query(20, ge=1, le=200),
    owner_id: str | None = None,
) -> Response:
    async with deps.connections(request).get_connection("postgres") as conn:
        rows = await conn.fetch(LIST_PAGE, after_id, owner_id, limit)
    items = [_item(row) for row in rows]
    body = {"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None}
    # Encoded directly: the hot list path skips FastAPI's generic jsonable_encoder walk.
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


@router.get("/{item_id}")
async def get_item(request: Request, item_id: int) -> dict[str, Any]:
    async with deps.connections(request).get_connection("postgres") as conn:
        row = await conn.fetchrow(GET_ONE, item_id)
    if row is None:
        raise NotFound(f"no item with id {item_id}")
    return _item(row)


@router.post("", status_code=201)
async def create_item(request: Request, item: ItemIn) -> dict[str, Any]:
    async with deps.connections(request).get_connection("postgres") as conn:
        row = await conn.fetchrow(
            """
            WITH new AS (INSERT INTO items (name, owner_id) VALUES ($1, $2) RETURNING *),
                 tags AS (INSERT INTO item_tags (item_id, tag)
                          SELECT new.id, t FROM new, unnest($3::text[]) AS t RETURNING tag)
            SELECT new.*, COALESCE((SELECT array_agg(tag ORDER BY tag) FROM tags), '{}') AS tags
            FROM new
            """,
            item.name,
            item.owner_id,
            sorted(set(item.tags)),
        )
    return _item(row)


@router.put("/{item_id}")
async def update_item(request: Request, item_id: int, item: ItemIn) -> dict[str, Any]:
    async with deps.connections(request).get_connection("postgres") as conn, conn.transaction():
        updated = await conn.execute(
            "UPDATE items SET name = $2, owner_id = $3 WHERE id = $1",
            item_id,
            item.name,
            item.owner_id,
        )
        if updated == "UPDATE 0":
            raise NotFound(f"no item with id {item_id}")
        await conn.execute("DELETE FROM item_tags WHERE item_id = $1", item_id)
        await conn.execute(
            "INSERT INTO item_tags (item_id, tag) SELECT $1, unnest($2::text[])",
            item_id,
            sorted(set(item.tags)),
        )
        row = await conn.fetchrow(GET_ONE, item_id)
    return _item(row)


@router.delete("/{item_id}", status_code=204)
async def delete_item(request: Request, item_id: int) -> Response:
    async with deps.connections(request).get_connection("postgres") as conn:
        deleted = await conn.execute("DELETE FROM items WHERE id = $1", item_id)
    if deleted == "DELETE 0":
        raise NotFound(f"no item with id {item_id}")
    return Response(status_code=204)
