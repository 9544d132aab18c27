"""`chaosgate init`: find a service's OpenAPI document and draft a request mix from it.

Where the document is: `--openapi URL`, else `<base URL>/openapi.json`, the usual prefixes
(`/api/v1/openapi.json`, `/api/openapi.json`, ...), else a link in the `/docs` page. From it:
the GET routes (paths from the origin, so a prefix is never lost), a health/ready-like route
and `/version` as the target's signals, path parameters typed from their schema (an integer
range, an enum, a UUID taken from a list route's answer), and a log-in `setup:` when the routes
need auth (an OAuth2 password flow: a login request; a bearer token or API key: from an
environment variable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

RANDOM_ID = "{{ random_int(1, 100) }}"
USER_ENV, PASSWORD_ENV, TOKEN_ENV = "GATE_USERNAME", "GATE_PASSWORD", "GATE_TOKEN"
_PARAM = re.compile(r"\{([^{}/]+)\}")
_DOC_PATHS = (
    "/openapi.json",
    "/api/v1/openapi.json",
    "/api/openapi.json",
    "/v1/openapi.json",
    "/api/v2/openapi.json",
    "/swagger.json",
    "/api/swagger.json",
    "/v3/api-docs",
)
_DOCS_PAGES = ("/docs", "/api/docs", "/api/v1/docs", "/swagger-ui.html", "/redoc")
_DOC_LINK = re.compile(r"""["']([^"'\s]*(?:openapi|swagger)[^"'\s]*\.json)["']""")
_SKIP_TAIL = re.compile(r"/(openapi\.json|docs|docs/oauth2-redirect|redoc)$")
_HEALTH = re.compile(
    r"/(healthz?|health[-_]?check|readyz?|readiness|livez?|liveness|ping|status)/?$", re.I
)
_VERSION = re.compile(r"/version/?$")
NIL_UUID = "00000000-0000-0000-0000-000000000000"
LIST_ID = "<first id of the list>"  # a placeholder the dry run replaces (data.0.id, 0.id...)


@dataclass
class OpenApi:
    url: str
    spec: dict[str, Any]


@dataclass
class Auth:
    """How the drafted mix logs in."""

    kind: str  # "password" (an OAuth2 password flow), "bearer" or "api_key"
    token_url: str | None = None  # password: the login route (path from the origin)
    header: str = "Authorization"  # api_key: its header

    @property
    def env(self) -> list[str]:
        return [USER_ENV, PASSWORD_ENV] if self.kind == "password" else [TOKEN_ENV]

    def header_value(self) -> str:
        if self.kind == "password":
            return "Bearer {{ token }}"
        if self.kind == "bearer":
            return f"Bearer {{{{ env({TOKEN_ENV}) }}}}"
        return f"{{{{ env({TOKEN_ENV}) }}}}"

    def setup(self) -> dict[str, Any] | None:
        if self.kind != "password":
            return None
        form = {
            "username": f"{{{{ env({USER_ENV}) }}}}",
            "password": f"{{{{ env({PASSWORD_ENV}) }}}}",
        }
        return {
            # one log-in per load worker, shared by its users: a slow password hash times 50
            # users at once can outlast the request timeout
            "once": "per_worker",
            "requests": [
                {
                    "name": "log in",
                    "method": "POST",
                    "path": self.token_url,
                    "form": form,
                    "expect": [200],
                    "capture": {"token": "access_token"},
                }
            ],
        }


@dataclass
class Route:
    path: str  # from the origin, with {params}
    secured: bool
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> schema


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _json(client: httpx.Client, url: str) -> dict[str, Any] | None:
    try:
        answer = client.get(url)
        document = answer.json() if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if isinstance(document, dict) and ("openapi" in document or "swagger" in document):
        return document
    return None


def find_openapi(client: httpx.Client, base_url: str, given: str | None) -> OpenApi | None:
    """The service's OpenAPI document, or None (then `init` drafts `GET /`)."""
    root = origin(base_url)
    if given is not None:
        url = urljoin(base_url + "/", given)
        spec = _json(client, url)
        return OpenApi(url, spec) if spec is not None else None
    candidates = [base_url + "/openapi.json"] + [root + path for path in _DOC_PATHS]
    for page in _DOCS_PAGES:  # a link from the docs page (Swagger UI names its document)
        try:
            answer = client.get(root + page)
        except httpx.HTTPError:
            continue
        if answer.status_code == 200:
            candidates += [urljoin(root + page, m) for m in _DOC_LINK.findall(answer.text)]
    for url in dict.fromkeys(candidates):
        spec = _json(client, url)
        if spec is not None:
            return OpenApi(url, spec)
    return None


def _prefix(document: OpenApi) -> str:
    """The path every route is under (OpenAPI `servers[0].url`), "" when the paths are full."""
    servers = document.spec.get("servers")
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        path = urlsplit(str(servers[0].get("url", ""))).path.rstrip("/")
        return path
    return ""


def auth_of(document: OpenApi) -> Auth | None:
    schemes = (document.spec.get("components") or {}).get("securitySchemes") or {}
    prefix = _prefix(document)
    for scheme in schemes.values():
        if not isinstance(scheme, dict):
            continue
        password = ((scheme.get("flows") or {}).get("password") or {}).get("tokenUrl")
        if scheme.get("type") == "oauth2" and isinstance(password, str):
            path = urlsplit(password).path
            if not path.startswith("/"):  # relative to the document's folder
                path = urlsplit(urljoin(document.url, password)).path
            elif prefix and not path.startswith(prefix):
                path = prefix + path
            return Auth("password", token_url=path)
    for scheme in schemes.values():
        if isinstance(scheme, dict) and scheme.get("type") == "http":
            return Auth("bearer")
        if (
            isinstance(scheme, dict)
            and scheme.get("type") == "apiKey"
            and scheme.get("in") == "header"
        ):
            return Auth("api_key", header=str(scheme.get("name", "X-API-Key")))
    return None


def get_routes(document: OpenApi) -> list[Route]:
    paths = document.spec.get("paths")
    if not isinstance(paths, dict):
        return []
    prefix = _prefix(document)
    default_security = bool(document.spec.get("security"))
    routes = []
    for path, operations in paths.items():
        if not (isinstance(path, str) and path.startswith("/") and isinstance(operations, dict)):
            continue
        get = operations.get("get")
        if not isinstance(get, dict) or _SKIP_TAIL.search(path):
            continue
        security = get.get("security", None)
        secured = bool(security) if security is not None else default_security
        params: dict[str, dict[str, Any]] = {}
        for param in [*operations.get("parameters", []), *get.get("parameters", [])]:
            if isinstance(param, dict) and param.get("in") == "path":
                params[str(param.get("name"))] = _resolve(document.spec, param.get("schema", {}))
        routes.append(Route(prefix + path, secured, params))
    return routes


def _resolve(spec: dict[str, Any], schema: Any) -> dict[str, Any]:
    """A parameter's schema with a local `$ref` (an enum's) followed once."""
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        target: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return target if isinstance(target, dict) else {}
    if isinstance(schema, dict) and isinstance(schema.get("anyOf"), list) and schema["anyOf"]:
        return _resolve(spec, schema["anyOf"][0])
    return schema if isinstance(schema, dict) else {}


def health_route(routes: list[Route]) -> str | None:
    unsecured = [r.path for r in routes if not r.secured and not r.params]
    return next((path for path in unsecured if _HEALTH.search(path)), None)


def version_route(routes: list[Route]) -> str | None:
    return next((r.path for r in routes if _VERSION.search(r.path) and not r.params), None)


def _list_route(route: Route, routes: list[Route]) -> Route | None:
    """`/items/` for `/items/{item_id}`: its answer names the ids that exist."""
    head = route.path[: route.path.rfind("/{")]
    return next(
        (r for r in routes if not r.params and r.path.rstrip("/") == head.rstrip("/")), None
    )


def _value(schema: dict[str, Any]) -> tuple[str, bool]:
    """(template, always valid): an enum or an integer range always hits a real value."""
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return f"{{{{ random_choice({', '.join(str(v) for v in schema['enum'])}) }}}}", True
    if schema.get("type") == "integer":
        low = int(schema.get("minimum", 1))
        high = int(schema.get("maximum", max(low, 100)))
        bounded = "minimum" in schema and "maximum" in schema
        return f"{{{{ random_int({low}, {high}) }}}}", bounded
    if schema.get("format") == "uuid":
        return NIL_UUID, False
    return RANDOM_ID, False


def draft_requests(routes: list[Route], auth: Auth | None, skip: set[str]) -> list[dict[str, Any]]:
    """The mix's requests: one per GET route (skip: the signals' routes)."""
    requests: list[dict[str, Any]] = []
    captures: dict[str, dict[str, Any]] = {}  # list route path -> its request
    for route in routes:
        if route.path in skip:
            continue
        request: dict[str, Any] = {"name": f"GET {route.path}", "path": route.path}
        if route.secured and auth is not None:
            request["headers"] = {auth.header: auth.header_value()}
        exact = True
        for name in _PARAM.findall(route.path):
            schema = route.params.get(name, {})
            template, valid = _value(schema)
            listing = _list_route(route, routes) if not valid and schema else None
            if listing is not None and schema.get("type") != "integer":
                captures.setdefault(listing.path, {})[name] = name
                template, valid = f"{{{{ {name} }}}}", True
            request["path"] = request["path"].replace(f"{{{name}}}", template)
            exact = exact and valid
        if not exact:
            request["expect"] = [200, 404]
        requests.append(request)
    for request in requests:  # a list route captures the first id (the dry run finds where)
        wanted = captures.get(request["path"])
        if wanted:
            request["capture"] = {name: LIST_ID for name in wanted}
    return requests
