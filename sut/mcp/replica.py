"""One gateway → replica link: an MCP SDK client over streamable HTTP, owned by its own task.

Why a task per link: when the replica's connection is reset, the SDK cancels the task that
entered the `Client` context (CancelledError wrapping an ExceptionGroup) and the client must be
recreated. So one worker task owns the client, runs calls as children, and on any failure fails
the in-flight calls with `ReplicaUnavailable` and reconnects on the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import REQUEST_TIMEOUT, CallToolResult

from sut.config import ReplicaSettings
from sut.errors import DependencyTimeout, DependencyUnavailable

log = logging.getLogger(__name__)


class ReplicaUnavailable(DependencyUnavailable):
    """The replica could not be reached or its MCP session broke."""


class ReplicaTimeout(DependencyTimeout):
    """The replica did not answer within the call budget."""


@dataclass(frozen=True)
class ToolOutcome:
    """A tool call the replica answered: `is_error` means the SDK rejected it (arguments, name)."""

    is_error: bool
    payload: dict[str, Any]


@dataclass(eq=False)  # identity hashing: calls live in a set while in flight
class _Call:
    tool: str
    arguments: dict[str, Any]
    future: asyncio.Future[ToolOutcome] = field(repr=False)


def _outcome(result: CallToolResult) -> ToolOutcome:
    if result.structured_content is not None:
        return ToolOutcome(result.is_error, dict(result.structured_content))
    text = "".join(getattr(part, "text", "") for part in result.content)
    try:
        payload = json.loads(text)
    except ValueError:
        payload = {"message": text}
    return ToolOutcome(
        result.is_error, payload if isinstance(payload, dict) else {"value": payload}
    )


class ReplicaLink:
    def __init__(self, replica: ReplicaSettings, read_timeout_s: float) -> None:
        self.name = replica.name
        self.url = replica.url
        self.read_timeout_s = read_timeout_s
        self._queue: asyncio.Queue[_Call] = asyncio.Queue()
        self._inflight: set[_Call] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def call(self, tool: str, arguments: dict[str, Any], budget_s: float) -> ToolOutcome:
        if self._closing:
            raise ReplicaUnavailable(f"{self.name}: gateway is shutting down", dependency=self.name)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"mcp-link-{self.name}")
        call = _Call(tool, arguments, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(call)
        try:
            async with asyncio.timeout(budget_s):
                return await asyncio.shield(call.future)
        except TimeoutError:
            raise ReplicaTimeout(
                f"{self.name}: no answer to {tool} within {budget_s:.2f}s", dependency=self.name
            ) from None
        finally:
            if not call.future.done():
                call.future.cancel()

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._fail_inflight(ReplicaUnavailable(f"{self.name}: link closed", dependency=self.name))
        while not self._queue.empty():
            self._fail(self._queue.get_nowait(), ReplicaUnavailable("link closed"))

    # --- worker -------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            self._inflight.add(first)
            try:
                await self._serve_session(first)
            except BaseException as error:  # the SDK signals a broken session as CancelledError
                if self._closing:
                    raise
                task = asyncio.current_task()
                while task is not None and task.cancelling():
                    task.uncancel()  # not our cancellation: the SDK's, for a broken connection
                log.info("mcp link %s broke: %r", self.name, error)
                reason = ReplicaUnavailable(
                    f"{self.name}: {type(error).__name__}: {error}", dependency=self.name
                )
                self._fail_inflight(reason)

    async def _serve_session(self, first: _Call) -> None:
        async with (
            Client(self.url, read_timeout_seconds=self.read_timeout_s, cache=None) as client,
            anyio.create_task_group() as group,
        ):
            group.start_soon(self._one, client, first)
            while True:
                call = await self._queue.get()
                self._inflight.add(call)
                group.start_soon(self._one, client, call)

    async def _one(self, client: Client, call: _Call) -> None:
        if call.future.done():  # the caller gave up while it was queued
            self._inflight.discard(call)
            return
        # Any other failure propagates: it tears the session down, and _run fails the in-flight
        # calls and reconnects on the next one (a restarted replica has forgotten our session).
        try:
            result = await client.call_tool(call.tool, call.arguments)
        except MCPError as error:
            if error.code != REQUEST_TIMEOUT:
                raise
            # A slow answer is not a broken session: the other calls on it carry on.
            self._inflight.discard(call)
            self._fail(call, ReplicaTimeout(f"{self.name}: {error}", dependency=self.name))
            return
        self._inflight.discard(call)
        if not call.future.done():
            call.future.set_result(_outcome(result))

    def _fail_inflight(self, error: Exception) -> None:
        for call in list(self._inflight):
            self._fail(call, error)
        self._inflight.clear()

    @staticmethod
    def _fail(call: _Call, error: Exception) -> None:
        if not call.future.done():
            call.future.set_exception(error)
