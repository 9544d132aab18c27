"""`chaosgate init URL`: a starter target, request mix and scenario for a running service.

It checks that the URL answers, finds the service's OpenAPI document (scenarios.init_openapi:
`--openapi`, the usual prefixes, a link from /docs), drafts the request mix from its GET routes
(path parameters typed from their schema, a log-in `setup:` when the routes need auth), tries
the draft (scenarios.init_dryrun: a few requests each, their statuses printed), and writes three
files (CONTRACT-14 sections 1-3) with the plan's KPIs as defaults: API p95 < 200 ms and no
errors at baseline; with an upstream, that upstream down for 10 s and recovery < 30 s. Nothing
is overwritten unless asked (`--force`).
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
from scenarios.init_dryrun import DryRun, dry_run
from scenarios.init_openapi import (
    RANDOM_ID,
    Auth,
    auth_of,
    draft_requests,
    find_openapi,
    get_routes,
    health_route,
    origin,
    version_route,
)

__all__ = ["RANDOM_ID", "Draft", "check_base_url", "init", "parse_upstream", "scenario_document"]

TARGET, MIX, SCENARIO = "target.yaml", "mix.yaml", "scenario.yaml"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Upstream:
    name: str
    address: str  # host:port of the real dependency
    listen: int  # where the service must connect instead (the Toxiproxy proxy)


@dataclass
class Draft:
    """What `init` learned from the service."""

    requests: list[dict[str, Any]]
    health: str | None  # a health route, for the signals profile
    version_url: str | None
    from_openapi: bool
    openapi_url: str | None = None
    auth: Auth | None = None
    setup: dict[str, Any] | None = None

    def mix(self) -> dict[str, Any]:
        return (
            {"setup": self.setup, "requests": self.requests}
            if self.setup
            else {"requests": self.requests}
        )


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


def survey(client: httpx.Client, base_url: str, openapi: str | None = None) -> Draft:
    """Ask the service what it serves. It must answer at all, else exit 2 saying so."""
    try:
        client.get(base_url + "/")
    except httpx.HTTPError as error:
        raise InputError(
            f"{base_url}: expected an HTTP service answering there, got {error!r}",
            hint="start the service first, and give its base URL (scheme, host and port)",
        ) from None
    document = find_openapi(client, base_url, openapi)
    if document is None and openapi is not None:
        raise InputError(
            f"--openapi {openapi}: expected an OpenAPI document (JSON) there",
            hint="give its URL, or a path on the service such as /api/v1/openapi.json",
        )
    routes = get_routes(document) if document is not None else []
    auth = auth_of(document) if document is not None else None
    version = version_route(routes)
    if version is None and _answers(client, base_url + "/version"):
        version = "/version"
    health = health_route(routes)
    skip = {p for p in (health, version) if p}
    if auth is not None and auth.token_url:
        skip.add(auth.token_url)
    requests = draft_requests(routes, auth, skip) or [{"name": "GET /", "path": "/"}]
    uses_auth = any("headers" in r for r in requests)
    return Draft(
        requests,
        health,
        version,
        bool(routes),
        document.url if document else None,
        auth if uses_auth else None,
        auth.setup() if auth is not None and uses_auth else None,
    )


def _print_dry_run(draft: Draft, tried: DryRun, each: int) -> None:
    found = f"OpenAPI: {draft.openapi_url}" if draft.openapi_url else "no OpenAPI document found"
    click.echo(found)
    if draft.auth is not None:
        how = (
            f"log-in {draft.auth.token_url} once per load worker"
            if draft.setup
            else f"a token in {draft.auth.header}"
        )
        click.echo(f"auth: {how}, credentials from ${' and $'.join(draft.auth.env)}")
    if each:
        click.echo(f"dry run ({each} request(s) each), statuses:")
    for line in tried.lines():
        click.echo(line)


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
    source = f"{draft.openapi_url}" if draft.from_openapi else "no OpenAPI document: edit it"
    _dump(paths[0], f"the service under test (chaosgate init {base_url})",
          target_document(base_url, draft, upstreams))  # fmt: skip
    _dump(paths[1], f"request mix drafted from {source}", draft.mix())
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
@click.option(
    "--openapi",
    default=None,
    metavar="URL",
    help="the service's OpenAPI document (default: found at the usual places)",
)
@click.option(
    "--dry-run",
    "dry_run_each",
    type=click.IntRange(min=0, max=100),
    default=3,
    show_default=True,
    help="requests per drafted request to try before writing (0: none)",
)
def init(url: str, upstream_specs: tuple[str, ...], directory: Path, force: bool,
         openapi: str | None, dry_run_each: int) -> None:  # fmt: skip
    """Draft a target, a request mix and a scenario for the service at URL."""
    base_url = check_base_url(url)
    parsed = [parse_upstream(spec) for spec in upstream_specs]
    names = [name for name, _ in parsed]
    if len(set(names)) != len(names):
        raise InputError(f"--upstream: expected each name once, got {names}")
    upstreams = [Upstream(name, address, free_port()) for name, address in parsed]
    with httpx.Client(timeout=_TIMEOUT_S, follow_redirects=True) as client:
        draft = survey(client, base_url, openapi)
        # paths are from the origin (the OpenAPI paths carry their prefix): target_url is it
        base_url = origin(base_url) if draft.from_openapi else base_url
        tried = dry_run(client, base_url, draft.mix(), dry_run_each)
    _print_dry_run(draft, tried, dry_run_each)
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
    if not upstreams:  # fixtures.target requires one: say so now, not at --check
        click.echo(
            "  no --upstream: add the service's dependency to target.yaml (upstreams: {name: "
            "{upstream: host:port}}) or run init again with --upstream NAME=HOST:PORT --force"
        )
    scenario = directory / SCENARIO
    click.echo(f"next: chaosgate run --check {scenario} && chaosgate run {scenario}")
