"""Bad input to /api/memories is a 422 problem+json before any dependency is called, never a
503 "dependency unavailable" (a NUL in `key` read as a Postgres outage: issue 23)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sut.api import create_app
from sut.config import SutSettings

pytestmark = pytest.mark.unit

BAD: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/memories", {"json": {"key": "a\x00b", "content": "c"}}),
    ("POST", "/api/memories", {"json": {"key": "k", "content": "c\x00"}}),
    ("POST", "/api/memories", {"json": {"key": "k", "content": "c", "tags": ["t\x00"]}}),
    ("GET", "/api/memories", {"params": {"query": "q\x00"}}),
    ("GET", "/api/memories/a%00b", {}),
    ("DELETE", "/api/memories/a%00b", {}),
]


@pytest.mark.parametrize(("method", "url", "extra"), BAD)
async def test_a_nul_anywhere_in_a_memory_request_is_a_422_problem(
    method: str, url: str, extra: dict[str, Any]
) -> None:
    app = create_app(SutSettings())  # no lifespan: nothing behind it can answer
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sut") as client:
        response = await client.request(method, url, **extra)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert body.get("dependency") is None
