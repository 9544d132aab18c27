"""One error format everywhere: application/problem+json (RFC 9457) with the failing dependency."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from sut.errors import SutError

log = logging.getLogger("sut.api")
PROBLEM = "application/problem+json"


class Problem(BaseModel):
    """The body of every error answer (RFC 9457), as the OpenAPI document describes it."""

    type: str
    title: str
    status: int
    detail: str
    dependency: str | None = None


_MEANING = {
    400: "Malformed request",
    404: "No such resource",
    422: "Invalid request (path, query or body)",
    503: "A dependency is unavailable (Retry-After: 1)",
    504: "A dependency did not answer in time",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the problem answers a route really gives (422 replaces
    FastAPI's default HTTPValidationError body, which this app never sends)."""
    return {
        status: {
            "model": Problem,
            "description": _MEANING[status],
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=int(body["status"]), media_type=PROBLEM, headers=headers)


async def _sut_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, SutError)
    headers = {"Retry-After": "1"} if error.status == 503 else None
    return problem_response(error.problem(), headers)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    body = {
        "type": "about:blank",
        "title": str(error.detail) if error.status_code < 500 else "HTTP error",
        "status": error.status_code,
        "detail": str(error.detail),
    }
    return problem_response(body, dict(error.headers or {}))


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    body = {
        "type": "https://chaosgate.dev/problems/invalid-request",
        "title": "Invalid request",
        "status": 422,
        "detail": f"{where}: {first.get('msg', 'invalid')}",
    }
    return problem_response(body)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {
        "type": "https://chaosgate.dev/problems/internal",
        "title": "Internal error",
        "status": 500,
        "detail": type(error).__name__,
    }
    return problem_response(body)


def install(app: FastAPI) -> None:
    app.add_exception_handler(SutError, _sut_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
