"""MCP-specific SUT errors (subclasses of sut.errors.SutError) and the problem+json response."""

from __future__ import annotations

from starlette.responses import JSONResponse

from sut.errors import SutError

PROBLEM = "application/problem+json"


class RateLimited(SutError):
    status = 429
    title = "Rate limit exceeded"
    slug = "rate-limited"


class BadToolCall(SutError):
    status = 422
    title = "Invalid tool call"
    slug = "invalid-tool-call"


def problem_response(error: SutError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        error.problem(), status_code=error.status, media_type=PROBLEM, headers=headers
    )
