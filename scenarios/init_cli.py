"""`chaosgate init URL`: a starter target, request mix and scenario for a running service.

It checks that the URL answers, drafts the request mix from the GET routes of the service's
`/openapi.json` when it serves one (a path parameter becomes `{{ random_int(1, 100) }}`, and
such a request expects 200 or 404), and writes three files (CONTRACT-14 sections 1-3) with the
plan's KPIs as defaults: API p95 < 200 ms and no errors at baseline; with an upstream, that
upstream down for 10 s and recovery < 30 s. Nothing is started and nothing is overwritten
unless asked (`--force`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import httpx
import yaml

from chaosgate.errors import InputError
from chaosgate.processes import free_port

TARGET, MIX, SCENARIO = "target.yaml", "mix.yaml", "scenario.yaml"
RANDOM_ID = "{{ random_int(1, 100) }}"
_PARAM = re.compile(r"\{[^{}/]+\}")
# FastAPI's own pages are no traffic of the service
_SKIP = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
_HEALTH = ("/healthz", "/health", "/readyz", "/ready", "/api/ready", "/api/health")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Upstream:
    name: str
    address: str  # host:port of the real dependency
    listen: int  # where the service must connect instead (the Toxiproxy proxy)


@dataclass(frozen=True)
class Draft:
    """What `init` learned from the service."""

    requests: list[dict[str, Any]]
    health: str | None  # a health route, for the signals profile
    version_url: str | None
    from_openapi: bool


def parse_upstream(text: str) -> tuple[str, str]:
    """`name=host:port` -> (name, host:port); anything else is bad input."""
    name, _, address = text.partition("=")
    host, _, port = address.rpartition(":")
    if not _NAME.match(name) or name == "client" or not host or not port.isdigit():
        raise InputError(
            f"--upstream {text!r}: expected name=host:port (name of letters, digits, '_' or "
            "'-', not 'client'), e.g. --upstream postgres=127.0.0.1:5432"
        )
    if not 0 < int(port) < 65536:
        raise InputError(f"--upstream {text!r}: expected a port 1-65535, got {port}")
    return name, address


def check_base_url(url: str) -> str:
    """The URL without a trailing slash, once it is http(s) with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{url!r}: expected the service's base URL, e.g. http://127.0.0.1:8080")
    return url.rstrip("/")


def _request_for(path: str) -> dict[str, Any]:
    if not _PARAM.search(path):
        return {"name": f"GET {path}", "path": path}
    return {"name": f"GET {path}", "path": _PARAM.sub(RANDOM_ID, path), "expect": [200, 404]}


def _get_routes(spec: Any) -> list[str]:
    paths = spec.get("paths") if isinstance(spec, dict) else None
    if not isinstance(paths, dict):
        return []
    return [
        path
        for path, operations in paths.items()
        if isinstance(path, str)
        and path.startswith("/")
        and path not in _SKIP
        and isinstance(operations, dict)
        and "get" in operations
    ]


def survey(client: httpx.Client, base_url: str) -> Draft:
    """Ask the service what it serves. It must answer at all, else exit 2 saying so."""
    try:
        client.get(base_url + "/")
    except httpx.HTTPError as error:
        raise InputError(
            f"{base_url}: expected an HTTP service answering there, got {error!r}",
            hint="start the service first, and give its base URL (scheme, host and port)",
        ) from None
    routes: list[str] = []
    try:
        answer = client.get(base_url + "/openapi.json")
        if answer.status_code == 200:
            routes = _get_routes(answer.json())
    except (httpx.HTTPError, ValueError):
        routes = []  # no (readable) OpenAPI document: the mix starts from "/"
    version = None
    if "/version" in routes or _answers(client, base_url + "/version"):
        version = "/version"
    health = next((path for path in _HEALTH if path in routes), None)
    traffic = [path for path in routes if path not in (health, version)] or ["/"]
    return Draft([_request_for(path) for path in traffic], health, version, bool(routes))


def _answers(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def target_document(base_url: str, draft: Draft, upstreams: list[Upstream]) -> dict[str, Any]:
    target: dict[str, Any] = {"target_url": base_url}
    if draft.version_url:
        target["version_url"] = draft.version_url
    if upstreams:
        target["upstreams"] = {
            up.name: {"upstream": up.address, "listen": up.listen} for up in upstreams
        }
    if draft.health:
        target["signals"] = {"ready": {"url": draft.health, "ready_status": [200]}}
    return target


def scenario_document(name: str, upstreams: list[Upstream]) -> dict[str, Any]:
    """The plan's KPIs; with an upstream, that upstream down for 10 s in a 40 s run."""
    hold = "38s" if upstreams else "18s"
    scenario: dict[str, Any] = {
        "name": name,
        "target": TARGET,
        "load": {
            "users": [MIX],
            # 60 rps: 600 baseline requests, 2x the 268 that can show an error rate < 1 %
            # (`run --check` refuses a KPI planned below twice its floor, scenarios.planned_n)
            "rate": [{"ramp_to_rps": 60, "over_s": "2s"}, {"hold_s": hold}],
        },
    }
    kpis = ["p95(*) < 200ms during baseline", "error_rate(*) < 1% during baseline"]
    if upstreams:
        first = upstreams[0].name
        scenario["faults"] = [
            {"name": f"{first}-down", "at_s": 12, "for_s": 10, "target": first, "fault": "down"}
        ]
        kpis.append(f"recovery({first}-down) < 30s")
    scenario["kpis"] = kpis
    return scenario


def _dump(path: Path, header: str, document: dict[str, Any]) -> None:
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=100)
    path.write_text(f"# {header}\n{text}", encoding="utf-8")


def write_starter(
    directory: Path, base_url: str, draft: Draft, upstreams: list[Upstream], force: bool
) -> list[Path]:
    paths = [directory / TARGET, directory / MIX, directory / SCENARIO]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise InputError(
            f"{', '.join(existing)}: already there; expected a directory without them",
            hint="choose another --dir, or --force to overwrite",
        )
    directory.mkdir(parents=True, exist_ok=True)
    origin = "its /openapi.json" if draft.from_openapi else "no OpenAPI document: edit it"
    _dump(paths[0], f"the service under test (chaosgate init {base_url})",
          target_document(base_url, draft, upstreams))  # fmt: skip
    _dump(paths[1], f"request mix drafted from {origin}", {"requests": draft.requests})
    name = f"starter-{upstreams[0].name}-down" if upstreams else "starter-baseline"
    _dump(paths[2], "plan KPIs: API p95 < 200 ms, no errors, recovery < 30 s",
          scenario_document(name, upstreams))  # fmt: skip
    return paths


@click.command()
@click.argument("url")
@click.option(
    "--upstream",
    "upstream_specs",
    multiple=True,
    metavar="NAME=HOST:PORT",
    help="a dependency to put behind Toxiproxy (repeatable), e.g. postgres=127.0.0.1:5432",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("chaosgate"),
    show_default=True,
    help="where to write target.yaml, mix.yaml and scenario.yaml",
)
@click.option("--force", is_flag=True, help="overwrite files already there")
def init(url: str, upstream_specs: tuple[str, ...], directory: Path, force: bool) -> None:
    """Draft a target, a request mix and a scenario for the service at URL."""
    base_url = check_base_url(url)
    parsed = [parse_upstream(spec) for spec in upstream_specs]
    names = [name for name, _ in parsed]
    if len(set(names)) != len(names):
        raise InputError(f"--upstream: expected each name once, got {names}")
    upstreams = [Upstream(name, address, free_port()) for name, address in parsed]
    with httpx.Client(timeout=_TIMEOUT_S, follow_redirects=True) as client:
        draft = survey(client, base_url)
    written = write_starter(directory, base_url, draft, upstreams, force)
    click.echo(f"wrote {', '.join(str(p) for p in written)}")
    click.echo(
        f"  {len(draft.requests)} request(s): {', '.join(r['name'] for r in draft.requests)}"
    )
    for up in upstreams:
        click.echo(
            f"  point the service's {up.name} at 127.0.0.1:{up.listen} (not {up.address}):"
            " chaosgate's proxy listens there during runs"
        )
    scenario = directory / SCENARIO
    click.echo(f"next: chaosgate run --check {scenario} && chaosgate run {scenario}")
