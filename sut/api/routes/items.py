"""Items in Postgres: CRUD plus a keyset-paginated list that fetches each page in ONE query."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from sut.api import deps
from sut.api.problems import problem_responses
from sut.errors import NotFound

router = APIRouter(prefix="/api/items", tags=["items"])

# Bad input is a 422 problem, never a 500 from Postgres: ids are BIGINT (an id past 2^63-1
# was an asyncpg DataError) and Postgres text cannot hold NUL (an encoding error).
BIGINT_MAX = 2**63 - 1
ItemId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="a BIGINT item id")]
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, Field(pattern=NO_NUL)]

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
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    owner_id: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    tags: list[Annotated[Text, Field(max_length=100)]] = Field(default_factory=list, max_length=50)


def _item(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "owner_id": row["owner_id"],
        "created_at": row["created_at"].isoformat(),
        "tags": list(row["tags"]),
    }


@router.get("", responses=problem_responses(422, 503, 504))
async def list_items(
    request: Request,
    after_id: int = Query(0, ge=0, le=BIGINT_MAX),
    limit: int = Query(20, ge=1, le=200),
    owner_id: str | None = Query(None, max_length=100, pattern=NO_NUL),
) -> Response:
    async with deps.connections(request).get_connection("postgres") as conn:
        rows = await conn.fetch(LIST_PAGE, after_id, owner_id, limit)
    items = [_item(row) for row in rows]
    body = {"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None}
    # Encoded directly: the hot list path skips FastAPI's generic jsonable_encoder walk.
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


@router.get("/{item_id}", responses=problem_responses(404, 422, 503, 504))
async def get_item(request: Request, item_id: ItemId) -> dict[str, Any]:
    async with deps.connections(request).get_connection("postgres") as conn:
        row = await conn.fetchrow(GET_ONE, item_id)
    if row is None:
        raise NotFound(f"no item with id {item_id}")
    return _item(row)


@router.post("", status_code=201, responses=problem_responses(422, 503, 504))
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


@router.put("/{item_id}", responses=problem_responses(404, 422, 503, 504))
async def update_item(request: Request, item_id: ItemId, item: ItemIn) -> dict[str, Any]:
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


@router.delete("/{item_id}", status_code=204, responses=problem_responses(404, 422, 503, 504))
async def delete_item(request: Request, item_id: ItemId) -> Response:
    async with deps.connections(request).get_connection("postgres") as conn:
        deleted = await conn.execute("DELETE FROM items WHERE id = $1", item_id)
    if deleted == "DELETE 0":
        raise NotFound(f"no item with id {item_id}")
    return Response(status_code=204)
