"""Harness settings: every timeout, image name and backend choice lives here, once.

Resolved once, PER KEY: a command-line flag > an environment variable `CHAOSGATE_<SECTION>__<KEY>`
(e.g. `CHAOSGATE_TIMEOUTS__STARTUP_S=60`) > `chaosgate.yaml` (or the file named by
`CHAOSGATE_CONFIG` / `--config`) > the built-in default. Setting one key of a section in one
source keeps the other keys of that section from the others. A bad value raises `ConfigError`
naming the key and its source. Resolve once at the entry point and pass the value down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict, SettingsError

from chaosgate.errors import ConfigError
from chaosgate.inputfile import read_yaml
from chaosgate.numbers import reject_bool_number
from chaosgate.stacks import Backend

DEFAULT_CONFIG_FILE = "chaosgate.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return reject_bool_number(cls, value, info)  # `startup_s: true` is not 1 s


class Timeouts(_Section):
    """Seconds. One place for every deadline the harness waits on."""

    startup_s: float = Field(60.0, gt=0, description="whole-stack bring-up deadline")
    readiness_s: float = Field(30.0, gt=0, description="one service becoming ready")
    poll_interval_s: float = Field(0.05, gt=0, description="readiness / recovery polling")
    teardown_s: float = Field(10.0, gt=0, description="graceful stop before SIGKILL")
    toxiproxy_api_s: float = Field(5.0, gt=0, description="one Toxiproxy API request")
    http_s: float = Field(10.0, gt=0, description="one probe request to the SUT")
    docker_s: float = Field(120.0, gt=0, description="one Docker call (start, build step)")
    fault_verify_s: float = Field(10.0, gt=0, description="seeing that a fault took effect")
    settle_s: float = Field(
        90.0,
        gt=0,
        description="a capacity search: the SUT back at its idle latency after an overloaded step",
    )


class Images(_Section):
    """Image names for the containers backend. fixtures/images/build.sh builds offline
    stand-ins tagged with exactly these names (so the defaults work with no registry); it never
    overwrites a same-named image it did not build. Ryuk's stand-in speaks Ryuk's protocol."""

    postgres: str = "postgres:15"
    redis: str = "redis:7"
    toxiproxy: str = "ghcr.io/shopify/toxiproxy:2.12.0"
    sut: str = "chaosgate/sut:latest"
    ryuk: str = "testcontainers/ryuk:0.11.0"
    base: str = "chaosgate/debian-base:bookworm"


class ToxiproxySettings(_Section):
    version: str = "v2.12.0"
    server_bin: str = "toxiproxy-server"
    cli_bin: str = "toxiproxy-cli"


class HarnessSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHAOSGATE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    backend: Backend = "auto"
    network: Literal["host", "bridge"] = "host"
    stack_config: Path | None = Field(None, description="external-target YAML")
    state_dir: Path = Field(Path(".chaosgate"), description="`chaosgate up` state file lives here")
    reports_dir: Path = Path("reports/runs")
    timeouts: Timeouts = Timeouts()
    images: Images = Images()
    toxiproxy: ToxiproxySettings = ToxiproxySettings()


def _describe(
    error: ValidationError, file: Path, root: yaml.Node | None, env: dict[str, str], flags: set[str]
) -> str:
    """One line per problem, naming where the bad value came from: the flag, the environment
    variable, or the settings file and line."""
    lines = []
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"])
        key = ".".join(loc) or "(root)"
        variable = _variable(loc, env)
        if loc and loc[0] in flags:
            source = f"--{loc[0].replace('_', '-')}"
        elif variable is not None:
            source = f"environment variable {variable}"
        else:
            source = f"{file}:{_line(root, loc)}"
        lines.append(f"{source}: {key}: {item['msg']}")
    return "\n".join(lines)


def _variable(loc: tuple[str, ...], env: dict[str, str]) -> str | None:
    """The `CHAOSGATE_*` variable that set `loc` (itself, or a section given as JSON)."""
    for depth in range(len(loc), 0, -1):
        name = "CHAOSGATE_" + "__".join(loc[:depth]).upper()
        if name in env:
            return name
    return None


def _line(root: yaml.Node | None, loc: tuple[str, ...]) -> int:
    node = root
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        found = next(
            ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part),
            None,
        )
        if found is None:
            break
        node = found[0] if part == loc[-1] else found[1]
    return node.start_mark.line + 1 if node is not None else 1


def _environment() -> dict[str, Any]:
    """`CHAOSGATE_*` parsed by pydantic-settings (nested keys, JSON sections); a value it cannot
    parse is a `ConfigError` naming the variable."""
    try:
        return dict(EnvSettingsSource(HarnessSettings)())
    except SettingsError as error:
        field = str(error).partition('field "')[2].partition('"')[0]
        prefix = f"CHAOSGATE_{field.upper()}"
        names = sorted(k for k in os.environ if k.upper().startswith(prefix))
        variable = names[0] if names else prefix
        raise ConfigError(
            f"environment variable {variable}: not a valid value for {field!r} (set a section"
            " key by key, CHAOSGATE_SECTION__KEY=value, or as one JSON object)"
        ) from None


def _check_dirs(
    settings: HarnessSettings, file: Path, root: yaml.Node | None, env: dict[str, str]
) -> None:
    for name in ("state_dir", "reports_dir"):
        folder: Path = getattr(settings, name)
        if folder.exists() and not folder.is_dir():
            variable = _variable((name,), env)
            source = (
                f"environment variable {variable}" if variable else f"{file}:{_line(root, (name,))}"
            )
            raise ConfigError(f"{source}: {name}: {folder} exists and is not a directory")


def load_settings(path: Path | None = None, **overrides: Any) -> HarnessSettings:
    """Load the harness settings. A missing explicit file is an error; the default one is
    optional. Every problem names its source: flag, environment variable or file:line."""
    named = os.environ.get("CHAOSGATE_CONFIG")
    explicit = path or (Path(named) if named else None)
    file = explicit or Path(DEFAULT_CONFIG_FILE)
    data: dict[str, Any] = {}
    root: yaml.Node | None = None
    if explicit is not None or os.path.lexists(file):
        what = "settings file" + (" (from CHAOSGATE_CONFIG)" if path is None and named else "")
        loaded, root = read_yaml(file, what, ConfigError)
        if loaded is None:  # a truncated copy, not "all defaults": delete the file for those
            raise ConfigError(
                f"{file}:1: the {what} is empty; expected a mapping of settings"
                " (delete the file to use the defaults)"
            )
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file}:1: expected a mapping of settings at the top level")
        data = loaded
    flags = {key: value for key, value in overrides.items() if value is not None}
    # pydantic-settings parses the environment (nested keys, prefix); the merge is ours, per key
    merged = _deep_merge(_deep_merge(data, _environment()), flags)
    env = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith("CHAOSGATE_")}
    try:
        settings = HarnessSettings(**merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, file, root, env, set(flags))) from None
    except (TypeError, ValueError) as exc:  # keys that are not strings, etc.
        raise ConfigError(f"{file}:1: expected a mapping of settings ({exc})") from None
    _check_dirs(settings, file, root, env)
    return settings


def _deep_merge(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    """`high` over `low`, key by key: a section set partly in `high` keeps `low`'s other keys."""
    merged = dict(low)
    for key, value in high.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = _deep_merge(below, value)
        else:
            merged[key] = value
    return merged
