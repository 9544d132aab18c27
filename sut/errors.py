"""The SUT's named errors; each knows its HTTP status and renders as application/problem+json.

SutError                     500 root
├── DependencyError          a dependency failed (carries `dependency`)
│   ├── DependencyUnavailable   503 refused, reset, down
│   ├── DependencyTimeout       504 no answer within its timeout
│   ├── PoolExhausted           503 no connection free within the acquire timeout
│   └── BreakerOpen             503 the dependency's circuit breaker is open
└── NotFound                 404
"""

from __future__ import annotations

from typing import Any


class SutError(Exception):
    status = 500
    title = "Internal error"
    slug = "internal"

    def __init__(self, detail: str, *, dependency: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.dependency = dependency

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://chaosgate.dev/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.dependency:
            body["dependency"] = self.dependency
        return body


class DependencyError(SutError):
    status = 503
    title = "Dependency failed"
    slug = "dependency-failed"


class DependencyUnavailable(DependencyError):
    title = "Dependency unavailable"
    slug = "dependency-unavailable"


class DependencyTimeout(DependencyError):
    status = 504
    title = "Dependency timeout"
    slug = "dependency-timeout"


class PoolExhausted(DependencyError):
    title = "Connection pool exhausted"
    slug = "pool-exhausted"


class BreakerOpen(DependencyError):
    title = "Circuit breaker open"
    slug = "breaker-open"


class NotFound(SutError):
    status = 404
    title = "Not found"
    slug = "not-found"
