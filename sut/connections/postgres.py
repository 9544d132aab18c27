"""Postgres through an asyncpg pool, created lazily so the backend starts while Postgres is down."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import asyncpg

from sut.config import PostgresSettings
from sut.connections.slots import Slots, translated
from sut.errors import DependencyError, DependencyTimeout, DependencyUnavailable

NAME = "postgres"


# asyncpg's own statements: the reset on release and the one-off type introspection.
_DRIVER_PREFIXES = ("SELECT pg_advisory_unlock_all", "WITH RECURSIVE typeinfo_tree")


def _kind(query: str) -> str:
    text = query.lstrip()
    if text.startswith(_DRIVER_PREFIXES) or "set_config('jit'" in text:
        return "driver"
    return "app"


def classify(error: BaseException) -> DependencyError | None:
    """Map a driver error to the SUT's named error; None for the caller's own errors (bad SQL)."""
    if isinstance(error, DependencyError):
        return error
    if isinstance(error, TimeoutError | asyncpg.QueryCanceledError):
        return DependencyTimeout(f"postgres did not answer in time ({error!r})", dependency=NAME)
    if isinstance(
        error,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.CannotConnectNowError
        | asyncpg.exceptions.OperatorInterventionError,
    ):
        return DependencyUnavailable(f"postgres unavailable ({error!r})", dependency=NAME)
    return None


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Our sessions hold no state (no LISTEN, session locks or SET), so skip asyncpg's reset
    query on every release: one round trip less per request. asyncpg still rolls back an
    open transaction before calling this."""


class PostgresPool:
    name = NAME

    def __init__(
        self,
        settings: PostgresSettings,
        on_query: Callable[[str], None] | None = None,
        admit: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        # the dashboard's last cache read failed (set by it; read only by the test-only weakening
        # `leak_on_error_in_cache_outage`: a service in its cache-outage mode)
        self.cache_outage = False
        self._on_query = on_query  # counts statements (proves one query per page, no N+1)
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._slots = Slots.for_pool(NAME, settings.pool, admit)

    async def start(self) -> None:
        with contextlib.suppress(DependencyError):
            await self._ensure_pool()

    async def _ensure_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                s = self.settings
                pool = asyncpg.create_pool(
                    host=s.host,
                    port=s.port,
                    user=s.user,
                    password=s.password or None,
                    database=s.database,
                    min_size=min(s.pool.min_size, s.pool.max_size),  # an override of max only
                    max_size=s.pool.max_size,
                    timeout=s.connect_timeout_s,
                    command_timeout=s.statement_timeout_s,
                    server_settings={"statement_timeout": str(int(s.statement_timeout_s * 1000))},
                    init=self._init_connection,
                    reset=_keep_session,
                )
                try:
                    async with asyncio.timeout(s.connect_timeout_s + s.pool.acquire_timeout_s):
                        self._pool = await pool
                except BaseException as error:
                    pool.terminate()  # a half-initialised pool must not keep sockets
                    mapped = classify(error)
                    if mapped is None:
                        raise
                    raise mapped from None
        assert self._pool is not None
        return self._pool

    async def _init_connection(self, connection: asyncpg.Connection) -> None:
        if self._on_query is not None:
            on_query = self._on_query
            connection.add_query_logger(lambda record: on_query(_kind(record.query)))

    @contextlib.asynccontextmanager
    async def acquire(self, *, admit: bool = True) -> AsyncIterator[asyncpg.Connection]:
        # Our slots bound the wait for a free connection (short, with a bounded queue: a dry
        # pool sheds load fast); asyncpg's own timeout then only covers opening a connection.
        async with self._slots.hold(admit=admit) as held:
            pool = await self._ensure_pool()
            try:
                connection = await pool.acquire(timeout=self.settings.connect_timeout_s)
            except TimeoutError:
                self._slots.note_failure(self.settings.statement_timeout_s)
                raise DependencyTimeout(
                    "postgres did not accept a connection in time", dependency=NAME
                ) from None
            except Exception as error:
                raise (classify(error) or error) from None
            try:
                with translated(classify):
                    if self.settings.slow_query_ms:  # test-only weakening, see SutSettings
                        await connection.execute(
                            "SELECT pg_sleep($1)", self.settings.slow_query_ms / 1000
                        )
                    yield connection
            except (DependencyTimeout, DependencyUnavailable, asyncio.CancelledError) as error:
                leaks = self.settings.leak_on_error or (
                    self.settings.leak_on_error_in_cache_outage and self.cache_outage
                )
                if leaks and not isinstance(error, asyncio.CancelledError):
                    held.leaked = True  # test-only weakening: neither the slot nor the connection
                    raise  # is given back (see PostgresSettings.leak_on_error)
                # A connection whose query timed out or was cut is useless (a cancel request may
                # still be pending on it): drop it now rather than make the caller wait for a reset.
                with contextlib.suppress(asyncpg.InterfaceError):  # already closed: released
                    connection.terminate()
                if not isinstance(error, asyncio.CancelledError):
                    self._slots.note_failure(self.settings.statement_timeout_s)
                raise
            finally:
                if not held.leaked:
                    with contextlib.suppress(Exception):
                        await pool.release(connection, timeout=self.settings.connect_timeout_s)

    async def check(self) -> None:
        async with self.acquire(admit=False) as connection:  # sees the truth, breaker or not
            await connection.fetchval("SELECT 1")

    def stats(self) -> tuple[int, int, int]:
        idle = self._pool.get_idle_size() if self._pool is not None else 0
        return self._slots.in_use, idle, self._slots.waiting

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                async with asyncio.timeout(self.settings.connect_timeout_s):
                    await pool.close()
            except TimeoutError:
                pool.terminate()
