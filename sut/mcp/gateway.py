"""The MCP gateway: `POST /v1/tools/{name}` (JSON arguments → JSON result), `/health`, `/metrics`.

The backend speaks plain JSON over HTTP to the gateway; the gateway speaks MCP (SDK client,
streamable HTTP) to the replicas through `ReplicaRouter`. A token bucket enforces
`mcp.gateway.rate_limit_rpm` (429 problem+json with Retry-After when exceeded).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sut.config import SutSettings
from sut.errors import DependencyError
from sut.mcp.problems import PROBLEM, BadToolCall, RateLimited, problem_response
from sut.mcp.ratelimit import TokenBucket
from sut.mcp.routing import ReplicaRouter

TOOLS = frozenset({"remember", "recall", "forget"})


def _replica_problem(body: dict[str, Any], replica: str) -> JSONResponse:
    """A dependency error reported by the replica's tool (e.g. its Postgres is down)."""
    status = int(body.get("status", 503))
    problem = {
        "type": f"https://chaosgate.dev/problems/{'dependency-timeout' if status == 504 else 'dependency-unavailable'}",
        "title": str(body.get("title", "Dependency failed")),
        "status": status,
        "detail": f"{replica}: {body.get('detail', '')}",
    }
    if body.get("dependency"):
        problem["dependency"] = body["dependency"]
    return JSONResponse(problem, status_code=status, media_type=PROBLEM)


def create_gateway_app(settings: SutSettings) -> Starlette:
    registry = CollectorRegistry()
    router = ReplicaRouter(settings, registry)
    bucket = TokenBucket(settings.mcp.gateway.rate_limit_rpm)
    requests = Counter(
        "gateway_requests",
        "tool calls by tool and HTTP status",
        ["tool", "status"],
        registry=registry,
    )
    duration = Histogram(
        "gateway_request_duration_seconds",
        "tool call latency at the gateway",
        ["tool"],
        registry=registry,
    )

    async def call_tool(request: Request) -> Response:
        tool = request.path_params["name"]
        started = time.perf_counter()
        response = await _call_tool(request, tool)
        label = tool if tool in TOOLS else "unknown"
        requests.labels(label, str(response.status_code)).inc()
        duration.labels(label).observe(time.perf_counter() - started)
        return response

    async def _call_tool(request: Request, tool: str) -> Response:
        if not bucket.try_acquire():
            wait = math.ceil(bucket.retry_after_s())
            limit = settings.mcp.gateway.rate_limit_rpm
            error = RateLimited(f"more than {limit} tool calls per minute; retry in {wait}s")
            return problem_response(error, headers={"Retry-After": str(max(1, wait))})
        if tool not in TOOLS:
            return problem_response(BadToolCall(f"unknown tool {tool!r}; known: {sorted(TOOLS)}"))
        try:
            arguments = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            return problem_response(BadToolCall(f"body is not JSON: {exc}"))
        if not isinstance(arguments, dict):
            return problem_response(BadToolCall("body must be a JSON object of tool arguments"))
        try:
            replica, outcome = await router.call(tool, arguments)
        except DependencyError as error:
            return problem_response(error)
        headers = {"X-Replica": replica}
        if outcome.is_error:
            detail = str(outcome.payload.get("message", outcome.payload))
            return problem_response(BadToolCall(detail))
        reported = outcome.payload.get("error")
        if isinstance(reported, dict):
            if int(reported.get("status", 503)) < 500:
                return problem_response(BadToolCall(str(reported.get("detail", reported))))
            return _replica_problem(reported, replica)
        return JSONResponse(outcome.payload, headers=headers)

    async def health(request: Request) -> Response:
        replicas = {
            name: {"healthy": router.healthy[name], "breaker": router.breaker_state[name]}
            for name in router.links
        }
        ok = any(r["healthy"] and r["breaker"] != "opened" for r in replicas.values())
        body = {"status": "healthy" if ok else "unhealthy", "replicas": replicas}
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await router.start()
        try:
            yield
        finally:
            await router.close()

    app = Starlette(
        routes=[
            Route("/v1/tools/{name}", call_tool, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.router = router
    return app
