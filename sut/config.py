"""The SUT's one configuration: a YAML file validated by pydantic, with `SUT_<SECTION>__<KEY>` env overrides.

Every host, port, pool size, timeout and TTL of every SUT process comes from here.
`load_sut_settings(path)` raises `SutConfigError` with one message naming the key and what was
expected; `python -m sut` turns it into exit status 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sut.config_rules import (
    ConfigReadError,
    check_host,
    check_http_url,
    cross_field,
    listen_clashes,
    read_config_text,
)
from sut.config_yaml import ConfigYamlError, parse_config_yaml

Port = Annotated[int, Field(ge=1, le=65535)]
# Finite and at most a day: `.inf` or 1e300 would overflow a timer or never fire.
Seconds = Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)]
Host = Annotated[str, AfterValidator(check_host)]
HttpUrl = Annotated[str, AfterValidator(check_http_url)]
PoolSize = Annotated[int, Field(ge=0, le=10_000)]
Millis = Annotated[int, Field(ge=0, le=600_000)]  # 0 turns the deadline off


class SutConfigError(Exception):
    """The SUT config file is missing or wrong; the message names the key and what was expected."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BreakerSettings(_Section):
    enabled: bool = True
    failure_threshold: Annotated[int, Field(ge=1)] = 5
    recovery_timeout_s: Seconds = 5


class ServiceSettings(_Section):
    host: Host = "127.0.0.1"
    port: Port = 8000
    shutdown_timeout_s: Seconds = 5
    # API requests in flight beyond this get 503 at once (0 = no limit; see sut/api/admission.py)
    max_in_flight: Annotated[int, Field(ge=0, le=100_000)] = 0
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "warning"


def _pool_sizes(min_size: int, max_size: int) -> None:
    if min_size > max_size:  # asyncpg would raise at start-up, after processes began
        raise cross_field("min_size", f"expected at most max_size ({max_size}), got {min_size}")


class PgPool(_Section):
    min_size: PoolSize = 10  # all opened at start: no connect on a request path
    max_size: Annotated[int, Field(ge=1, le=10_000)] = 10
    acquire_timeout_s: Seconds = 0.15  # request paths: shed load fast rather than queue
    max_waiting: PoolSize = (
        20  # callers queued for a connection beyond this get 503 at once; 0 = no bound
    )

    @model_validator(mode="after")
    def _min_within_max(self) -> PgPool:
        _pool_sizes(self.min_size, self.max_size)
        return self


class PostgresSettings(_Section):
    host: Host = "127.0.0.1"
    port: Port = 5432
    database: str = "chaosgate"
    user: str = "postgres"
    password: str = ""
    pool: PgPool = PgPool()
    statement_timeout_s: Seconds = 1
    connect_timeout_s: Seconds = 1
    breaker: BreakerSettings = BreakerSettings()
    # Test-only weakening (the release gate's "can fail" tests): every use of a connection first
    # runs `pg_sleep` this long, a slow query as a missing index would make it. 0 = off.
    slow_query_ms: Annotated[int, Field(ge=0, le=60_000)] = 0
    # Test-only weakening: a connection whose query fails (timed out, cut) is never given back
    # to the pool, as a missing `finally: release` would do. False = off.
    leak_on_error: bool = False
    # Test-only weakening that only a COMBINATION of faults reveals (`chaosgate explore`'s proof):
    # while the service is in its cache-outage mode (the dashboard's last cache read failed: Redis
    # down, blackholed or slow), a Postgres query that fails keeps its connection, as a fallback
    # path written without `finally: release` would. Either fault alone leaks nothing.
    leak_on_error_in_cache_outage: bool = False


class RedisPool(_Section):
    max_size: Annotated[int, Field(ge=1, le=10_000)] = 15
    acquire_timeout_s: Seconds = 1
    max_waiting: PoolSize = 0  # 0 = no bound


class RedisSettings(_Section):
    host: Host = "127.0.0.1"
    port: Port = 6379
    pool: RedisPool = RedisPool()
    socket_timeout_s: Seconds = 1
    breaker: BreakerSettings = BreakerSettings()


class WarehousePool(_Section):
    min_size: PoolSize = 1
    max_size: Annotated[int, Field(ge=1, le=1_000)] = 4
    acquire_timeout_s: Seconds = 2
    max_waiting: PoolSize = 0  # 0 = no bound

    @model_validator(mode="after")
    def _min_within_max(self) -> WarehousePool:
        _pool_sizes(self.min_size, self.max_size)
        return self


class WarehouseSettings(_Section):
    host: Host = "127.0.0.1"
    port: Port = 8080
    protocol: Literal["http", "https"] = "http"
    account: str = "fakesnow"
    user: str = "fake"
    password: str = "snow"
    database: str = "chaosgate"
    schema_: str = Field("public", alias="schema")
    pool: WarehousePool = WarehousePool()
    network_timeout_s: Seconds = 3
    breaker: BreakerSettings = BreakerSettings()
    # test-only weakening: every warehouse call (readiness checks too) waits this long first, as
    # a slow query path would; outside the pool, so it slows calls without exhausting the pool
    slow_call_ms: Annotated[int, Field(ge=0, le=60_000)] = 0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CacheSettings(_Section):
    enabled: bool = True
    dashboard_ttl_s: Seconds = 30
    deadline_ms: Millis = 50  # a cache call slower than this counts as a miss; 0 = wait
    fail_open: bool = (
        True  # a cache that fails or is slow is a miss (false: the request fails, 503)
    )


class DashboardSettings(_Section):
    """Graceful degradation of the performance dashboard; each mechanism has an off switch."""

    part_deadline_ms: Millis = 250  # a part not done by then is served as degraded; 0 = wait
    stale_while_revalidate: bool = True  # past its TTL, serve the last good answer and refresh
    stale_for_s: Seconds = 300  # how long past its TTL a good answer may still be served
    partial_answers: bool = (
        True  # a degraded part is marked in a 200 (false: the request fails, 503)
    )


class HealthSettings(_Section):
    interval_s: Seconds = 2
    check_timeout_s: Seconds = 1
    alert_retention_h: Seconds = 24


class GatewaySettings(_Section):
    host: Host = "127.0.0.1"
    port: Port = 8090
    rate_limit_rpm: Annotated[int, Field(ge=1)] = 60_000
    health_interval_s: Seconds = 1
    replica_breaker: BreakerSettings = BreakerSettings(failure_threshold=3, recovery_timeout_s=3)
    # a call not answered by then is also sent to the next replica (0 = no hedge: fail over
    # only after the first replica's share of the budget ran out)
    hedge_after_ms: Annotated[int, Field(ge=0, le=60_000)] = 150
    failover: bool = True  # a call a replica could not answer goes to the next one (false: 503/504)


class ReplicaSettings(_Section):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    host: Host = "127.0.0.1"
    listen_port: Port
    url: HttpUrl


def _default_replicas() -> list[ReplicaSettings]:
    return [
        ReplicaSettings(
            name=f"ai_memory-{i}", listen_port=9000 + i, url=f"http://127.0.0.1:{9000 + i}/mcp"
        )
        for i in (1, 2)
    ]


class McpSettings(_Section):
    gateway_url: HttpUrl = "http://127.0.0.1:8090"
    call_timeout_s: Seconds = 2
    gateway: GatewaySettings = GatewaySettings()
    replicas: list[ReplicaSettings] = Field(default_factory=_default_replicas, min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> McpSettings:
        seen: dict[str, int] = {}
        for index, replica in enumerate(self.replicas):
            if replica.name in seen:
                raise cross_field(
                    f"replicas.{index}.name",
                    f"expected a name no other replica has, got {replica.name!r}"
                    f" (also mcp.replicas.{seen[replica.name]}.name)",
                )
            seen[replica.name] = index
        return self

    def replica(self, name: str) -> ReplicaSettings:
        for replica in self.replicas:
            if replica.name == name:
                return replica
        known = ", ".join(r.name for r in self.replicas)
        raise SutConfigError(f"mcp.replicas: no replica named {name!r} (known: {known})")


class WebSocketSettings(_Section):
    queue_enabled: bool = True
    heartbeat_interval_s: Seconds = 2
    heartbeat_timeout_s: Seconds = 6
    queue_max: Annotated[int, Field(ge=1)] = 100_000

    @model_validator(mode="after")
    def _timeout_after_interval(self) -> WebSocketSettings:
        if self.heartbeat_timeout_s <= self.heartbeat_interval_s:
            raise cross_field(
                "heartbeat_timeout_s",
                f"expected more than heartbeat_interval_s ({self.heartbeat_interval_s}),"
                f" got {self.heartbeat_timeout_s}",
            )
        return self


class SutSettings(BaseSettings):
    """The whole SUT config. Env (`SUT_POSTGRES__PORT=5433`) overrides the file, key by key."""

    model_config = SettingsConfigDict(
        env_prefix="SUT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    service: ServiceSettings = ServiceSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    warehouse: WarehouseSettings = Field(
        default_factory=lambda: WarehouseSettings.model_validate({})
    )
    cache: CacheSettings = CacheSettings()
    dashboard: DashboardSettings = DashboardSettings()
    health: HealthSettings = HealthSettings()
    mcp: McpSettings = McpSettings()
    websocket: WebSocketSettings = WebSocketSettings()

    @model_validator(mode="after")
    def _no_port_clash(self) -> SutSettings:
        listeners = [
            ("service.port", self.service.host, self.service.port),
            ("mcp.gateway.port", self.mcp.gateway.host, self.mcp.gateway.port),
        ] + [
            (f"mcp.replicas.{i}.listen_port", r.host, r.listen_port)
            for i, r in enumerate(self.mcp.replicas)
        ]
        dependencies = [
            (f"{name}.port", d.host, d.port)
            for name, d in (
                ("postgres", self.postgres),
                ("redis", self.redis),
                ("warehouse", self.warehouse),
            )
        ]
        # Each caller's URL may reach its own target's listener (or a proxy), never another's.
        callers = [("mcp.gateway_url", self.mcp.gateway_url, [*listeners[:1], *listeners[2:]])]
        callers += [
            (f"mcp.replicas.{i}.url", r.url, listeners[: 2 + i] + listeners[3 + i :])
            for i, r in enumerate(self.mcp.replicas)
        ]
        clash = listen_clashes(listeners, dependencies, callers)
        if clash is not None:
            raise cross_field(*clash)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init kwargs; env comes first so it wins over the file.
        return (env_settings, init_settings)


def _key_line(path: Path, text: str, loc: tuple[int | str, ...]) -> str:
    """`file:line` of the deepest key of `loc` present in the YAML text (best effort)."""
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return str(path)
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == part]
            if not match:
                break
            line, node = match[0][0].start_mark.line + 1, match[0][1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return f"{path}:{line}" if line else str(path)


def _describe(error: dict[str, Any]) -> str:
    kind, msg, loc = error["type"], str(error["msg"]), error["loc"]
    if kind == "extra_forbidden":
        return "unknown key (not part of the SUT config; check the spelling)"
    if kind == "missing":
        return "required key is missing"
    if kind == "sut_config":  # a cross-field rule: its message already says what was expected
        return msg
    got = error.get("input")
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    if kind == "too_short":
        return f"expected at least {error.get('ctx', {}).get('min_length', 1)} item(s), got none"
    if str(loc[-1]).endswith("port"):
        return f"expected a port number 1-65535, got {shown}"
    expected = msg.removeprefix("Input should be ").removeprefix("Value error, ")
    if kind == "value_error":  # our AfterValidators say "<what>, got <input>" themselves
        return f"expected {expected}"
    return f"expected {expected}, got {shown}"


def _env_name(loc: tuple[int | str, ...]) -> str:
    return "SUT_" + "__".join(str(p).upper() for p in loc)


def load_sut_settings(path: str | Path) -> SutSettings:
    """Read and validate the SUT config file (env overrides applied); raise SutConfigError."""
    path = Path(path)
    try:
        text = read_config_text(path)
    except ConfigReadError as error:
        raise SutConfigError(str(error)) from None
    try:  # duplicate keys, nesting, alias bombs, huge values: refused at their line
        data, root = parse_config_yaml(text, path)
    except ConfigYamlError as error:
        raise SutConfigError(str(error)) from None
    if data is None:  # an empty file is a mistake (a truncated copy), not "all defaults"
        raise SutConfigError(
            f"{path}: the file is empty; expected a mapping of sections (see sut/config.yaml)"
        )
    if not isinstance(data, dict):
        raise SutConfigError(f"{path}: expected a mapping of sections at the top level")
    try:
        settings = SutSettings(**data)
    except ValidationError as error:
        loc, problem = _first_problem(error)
        env = _env_name(loc)
        where = f"{path} (env {env})" if env in os.environ else _key_line(path, text, loc)
        raise SutConfigError(f"{where}: {problem}") from None
    except (TypeError, ValueError) as error:  # keyword names that are not strings, etc.
        raise SutConfigError(f"{path}: expected a mapping of sections ({error})") from None
    _complete(data, path, root)
    return settings


def _complete(data: dict[str, Any], path: Path, root: yaml.Node | None) -> None:
    """Every section is written out: a file cut short (a truncated copy) must not run on
    defaults. A section the user means to leave at its defaults is written `section: {}`."""
    missing = [name for name in SutSettings.model_fields if name not in data]
    if missing:
        end = root.end_mark.line + 1 if root is not None else 1
        raise SutConfigError(
            f"{path}:{end}: section(s) missing: {', '.join(missing)} (a truncated copy?);"
            f" write `{missing[0]}: {{}}` to keep a section's defaults"
        )


def _first_problem(error: ValidationError) -> tuple[tuple[int | str, ...], str]:
    """The first error's location (a section rule's inner key appended) and `key: expected...`."""
    first = error.errors()[0]
    loc = tuple(first["loc"])
    inner = first.get("ctx", {}).get("key") if first["type"] == "sut_config" else None
    if inner:  # a section rule names the key inside the section
        loc = loc + tuple(int(p) if p.isdigit() else p for p in str(inner).split("."))
    key = ".".join(str(p) for p in loc) or "(top level)"
    more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
    return loc, f"{key}: {_describe(dict(first))}{more}"


def validate_sut_data(data: dict[str, Any]) -> SutSettings:
    """Validate an already-parsed config (no file, no env): the harness checks a scenario's
    `sut_overrides` with it. Raises SutConfigError `key: what was expected`."""
    try:
        return SutSettings.model_validate(data)
    except ValidationError as error:
        raise SutConfigError(_first_problem(error)[1]) from None
