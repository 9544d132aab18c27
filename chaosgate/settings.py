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
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from chaosgate.errors import ConfigError
from chaosgate.stacks import Backend

DEFAULT_CONFIG_FILE = "chaosgate.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(root)"
        lines.append(f"{source}: {key}: {item['msg']}")
    return "\n".join(lines)


def load_settings(path: Path | None = None, **overrides: Any) -> HarnessSettings:
    """Load the harness settings. A missing explicit file is an error; the default one is optional."""
    explicit = path or (
        Path(os.environ["CHAOSGATE_CONFIG"]) if "CHAOSGATE_CONFIG" in os.environ else None
    )
    file = explicit or Path(DEFAULT_CONFIG_FILE)
    data: dict[str, Any] = {}
    if file.exists():
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file}: expected a mapping of settings at the top level")
        data = loaded
    elif explicit is not None:
        raise ConfigError(f"{file}: settings file not found")
    flags = {key: value for key, value in overrides.items() if value is not None}
    # pydantic-settings parses the environment (nested keys, prefix); the merge is ours, per key
    environment = EnvSettingsSource(HarnessSettings)()
    merged = _deep_merge(_deep_merge(data, environment), flags)
    try:
        return HarnessSettings(**merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(file) if file.exists() else "settings")) from None


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
