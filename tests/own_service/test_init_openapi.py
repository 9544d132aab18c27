"""`init`'s reading of an OpenAPI document (pure logic, a mock transport for the lookups)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from scenarios.init_openapi import (
    NIL_UUID,
    TOKEN_ENV,
    OpenApi,
    auth_of,
    draft_requests,
    find_openapi,
    get_routes,
    health_route,
)

pytestmark = pytest.mark.unit

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/things/{thing_id}": {
            "get": {
                "security": [{"bearer": []}],
                "parameters": [
                    {
                        "name": "thing_id",
                        "in": "path",
                        "schema": {"type": "string", "format": "uuid"},
                    }
                ],
            }
        },
        "/status/health-check/": {"get": {"security": []}},
        "/public": {"get": {"security": []}},
    },
    "security": [{"bearer": []}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
}


def _client(pages: dict[str, httpx.Response]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        return pages.get(request.url.path, httpx.Response(404))

    return httpx.Client(transport=httpx.MockTransport(answer))


def test_the_document_is_found_from_a_link_in_the_docs_page() -> None:
    docs = '<script>SwaggerUIBundle({url: "/internal/spec/openapi.json"})</script>'
    client = _client(
        {
            "/docs": httpx.Response(200, text=docs),
            "/internal/spec/openapi.json": httpx.Response(200, json=SPEC),
        }
    )
    found = find_openapi(client, "http://svc:1", None)
    assert found is not None
    assert found.url == "http://svc:1/internal/spec/openapi.json"


def test_the_usual_prefixes_and_an_explicit_url() -> None:
    client = _client({"/api/v1/openapi.json": httpx.Response(200, json=SPEC)})
    found = find_openapi(client, "http://svc:1", None)
    assert found is not None
    assert found.url == "http://svc:1/api/v1/openapi.json"
    assert find_openapi(client, "http://svc:1", "/nope.json") is None
    given = find_openapi(client, "http://svc:1", "/api/v1/openapi.json")
    assert given is not None


def test_bearer_routes_get_a_token_from_the_environment_and_a_uuid_falls_back() -> None:
    document = OpenApi("http://svc:1/openapi.json", SPEC)
    routes = get_routes(document)
    auth = auth_of(document)
    assert auth is not None
    assert auth.kind == "bearer"
    assert health_route(routes) == "/status/health-check/"
    requests = draft_requests(routes, auth, {"/status/health-check/"})
    by_name = {r["name"]: r for r in requests}
    thing = by_name["GET /things/{thing_id}"]
    assert thing["headers"] == {"Authorization": f"Bearer {{{{ env({TOKEN_ENV}) }}}}"}
    assert thing["path"] == f"/things/{NIL_UUID}"  # not random_int: a UUID route answers 422
    assert thing["expect"] == [200, 404]
    assert "headers" not in by_name["GET /public"]  # security: [] overrides the default


def test_an_api_key_scheme_names_its_header() -> None:
    spec = {
        **SPEC,
        "components": {
            "securitySchemes": {"k": {"type": "apiKey", "in": "header", "name": "X-Key"}}
        },
    }
    auth = auth_of(OpenApi("http://svc:1/openapi.json", spec))
    assert auth is not None
    assert auth.header == "X-Key"
    assert auth.header_value() == f"{{{{ env({TOKEN_ENV}) }}}}"
