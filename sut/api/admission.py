"""ASGI middleware: an admission limit on API requests in flight (`service.max_in_flight`).

Beyond the limit a request is answered at once with 503 problem+json (Retry-After: 1), without
touching a dependency. 0 (the default) admits everything. Set low, it is the gate's "fast
failure" weakening: while a fault slows requests down, more of them are in flight, so the SUT
answers fast 503s, which a latency percentile alone would read as healthy.
Liveness, readiness and /metrics are never limited: they must answer while the API sheds.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

EXEMPT = ("/api/health", "/api/ready", "/metrics")


class AdmissionLimit:
    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            await _overloaded(send, self.max_in_flight)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


async def _overloaded(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": "https://chaosgate.dev/problems/overloaded",
            "title": "Too many requests in flight",
            "status": 503,
            "detail": f"more than {limit} requests in flight (service.max_in_flight)",
        }
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
