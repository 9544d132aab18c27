"""GatewayClient: how the backend calls MCP tools, over the gateway's JSON HTTP API.

Every failure comes out as a SUT error the backend renders as problem+json: unreachable → 503
(DependencyUnavailable), no answer within `mcp.call_timeout_s` → 504 (DependencyTimeout), the
gateway's own problems (429 rate limit, 422 bad call, 503/504 from a replica) keep their status.
"""

from __future__ import annotations

from typing import Any

import httpx

from sut.config import McpSettings
from sut.errors import DependencyError, DependencyTimeout, DependencyUnavailable, SutError
from sut.mcp.problems import BadToolCall, RateLimited

GATEWAY = "mcp-gateway"


def _error_from_problem(response: httpx.Response) -> SutError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = str(body.get("detail") or response.text[:200] or response.reason_phrase)
    dependency = str(body.get("dependency") or GATEWAY)
    status = response.status_code
    if status == 429:
        return RateLimited(detail)
    if status in (400, 404, 422):
        return BadToolCall(detail)
    if status == 504:
        return DependencyTimeout(detail, dependency=dependency)
    if status == 503:
        return DependencyUnavailable(detail, dependency=dependency)
    return DependencyError(f"gateway answered {status}: {detail}", dependency=dependency)


class GatewayClient:
    def __init__(self, settings: McpSettings) -> None:
        self.settings = settings
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        timeout = self.settings.call_timeout_s
        self._http = httpx.AsyncClient(
            base_url=self.settings.gateway_url, timeout=httpx.Timeout(timeout)
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if self._http is None:
            raise DependencyUnavailable("gateway client is not started", dependency=GATEWAY)
        try:
            response = await self._http.post(f"/v1/tools/{tool}", json=arguments)
        except httpx.TimeoutException as error:
            raise DependencyTimeout(
                f"no answer from the MCP gateway within {self.settings.call_timeout_s}s ({type(error).__name__})",
                dependency=GATEWAY,
            ) from None
        except httpx.TransportError as error:
            raise DependencyUnavailable(
                f"MCP gateway unreachable: {type(error).__name__}: {error}", dependency=GATEWAY
            ) from None
        if response.status_code >= 400:
            raise _error_from_problem(response)
        result = response.json()
        if not isinstance(result, dict):
            raise DependencyError(f"gateway returned {type(result).__name__}", dependency=GATEWAY)
        return result
