"""ASGI middleware recording sut_http_request_duration_seconds by route template.

Plain ASGI rather than BaseHTTPMiddleware: it adds far less per-request overhead.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sut.metrics import SutMetrics


class RequestTimer:
    def __init__(self, app: ASGIApp, metrics: SutMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.request_duration.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - start
            )
