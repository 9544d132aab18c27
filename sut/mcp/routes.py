"""Backend endpoints for memories; every call goes backend → gateway → ai_memory replica."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from sut.errors import NotFound
from sut.mcp.client import GatewayClient

router = APIRouter(tags=["memories"])


# Postgres text cannot hold NUL: a NUL reached the replica's insert, failed there, and came back
# as 503 "dependency unavailable". Bad input is a 422 problem, checked before any call.
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, Field(pattern=NO_NUL)]
Key = Annotated[str, Path(min_length=1, max_length=512, pattern=NO_NUL)]


class MemoryIn(BaseModel):
    key: str = Field(min_length=1, max_length=512, pattern=NO_NUL)
    content: Text
    tags: list[Text] = Field(default_factory=list)


def _client(request: Request) -> GatewayClient:
    client: GatewayClient = request.app.state.gateway_client
    return client


@router.post("/api/memories", status_code=201)
async def remember(memory: MemoryIn, request: Request) -> dict[str, Any]:
    return await _client(request).call("remember", memory.model_dump())


@router.get("/api/memories")
async def search(query: Annotated[str, Query(pattern=NO_NUL)], request: Request) -> dict[str, Any]:
    return await _client(request).call("recall", {"query": query})


@router.get("/api/memories/{key}")
async def recall(key: Key, request: Request, response: Response) -> dict[str, Any]:
    result = await _client(request).call("recall", {"key": key})
    if not result.get("found"):
        raise NotFound(f"no memory under key {key!r}")
    response.headers["X-Cache"] = "hit" if result.get("cached") else "miss"
    return dict(result["memory"])


@router.delete("/api/memories/{key}")
async def forget(key: Key, request: Request) -> dict[str, Any]:
    return await _client(request).call("forget", {"key": key})
