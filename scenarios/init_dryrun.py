"""`chaosgate init`: a dry run of the drafted mix (a few requests each) before it is written.

It logs in as the drafted `setup:` would (when its environment variables are set), finds where
a list route's answer keeps its ids (`data.0.id`, `0.id`) for the routes that need a real id,
and sends each drafted request a few times: the status breakdown is printed, so a draft that
would score 401s or 422s is seen before any run.
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from scenarios.init_openapi import LIST_ID, NIL_UUID
from scenarios.users.request_mix import Template, render_value

_ENV = re.compile(r"env\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")


@dataclass
class DryRun:
    statuses: dict[str, Counter[str]] = field(default_factory=dict)  # name -> status -> n
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        lines = []
        for name, counts in self.statuses.items():
            parts = ", ".join(f"{status} x {n}" for status, n in counts.most_common())
            lines.append(f"  {name}: {parts}")
        return lines + [f"  note: {note}" for note in self.notes]


def _render(text: Any, captured: dict[str, Any], rng: random.Random) -> Any:
    if isinstance(text, str):
        return Template.parse(text).render(rng, captured)
    if isinstance(text, dict):
        return {k: render_value(_templates(v), rng, captured) for k, v in text.items()}
    return text


def _templates(value: Any) -> Any:
    return Template.parse(value) if isinstance(value, str) else value


def _missing_env(document: Any) -> list[str]:
    return sorted({name for name in _ENV.findall(str(document)) if name not in os.environ})


def _log_in(
    client: httpx.Client, origin: str, setup: dict[str, Any], run: DryRun
) -> dict[str, Any]:
    missing = _missing_env(setup)
    if missing:
        run.notes.append(
            f"not logged in: export {', '.join(missing)} (the drafted set-up reads them); "
            "without them the protected routes answer 401"
        )
        return {}
    captured: dict[str, Any] = {}
    rng = random.Random(0)
    for step in setup["requests"]:
        try:
            answer = client.request(
                step["method"],
                origin + str(_render(step["path"], captured, rng)),
                data=_render(step.get("form"), captured, rng),
            )
        except httpx.HTTPError as error:
            run.notes.append(f"log-in {step['path']}: {error!r}")
            return {}
        run.statuses[f"set-up: {step['name']}"] = Counter({str(answer.status_code): 1})
        try:
            body = answer.json()
        except ValueError:
            body = None
        for name, key in step.get("capture", {}).items():
            if isinstance(body, dict) and key in body:
                captured[name] = body[key]
    return captured


def _id_path(body: Any) -> str | None:
    """Where a list answer keeps its first item's id: `0.id`, or `<key>.0.id`."""
    if isinstance(body, list) and body and isinstance(body[0], dict) and "id" in body[0]:
        return "0.id"
    if isinstance(body, dict):
        for key, value in body.items():
            if (
                isinstance(value, list)
                and value
                and isinstance(value[0], dict)
                and "id" in value[0]
            ):
                return f"{key}.0.id"
    return None


def _dig(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def _send(
    client: httpx.Client, origin: str, request: dict[str, Any], captured: dict[str, Any]
) -> httpx.Response | str:
    rng = random.Random()
    try:
        path = str(_render(request["path"], captured, rng))
        headers = {k: str(v) for k, v in _render(request.get("headers", {}), captured, rng).items()}
    except KeyError as missing:
        return f"skipped (no {missing} captured)"
    try:
        return client.get(origin + path, headers=headers)
    except httpx.HTTPError as error:
        return type(error).__name__


def dry_run(client: httpx.Client, origin: str, mix: dict[str, Any], each: int) -> DryRun:
    """Send each drafted request `each` times; fix the list captures in `mix` on the way (a
    list route whose ids cannot be found: its dependants fall back to a nil UUID, 200 or 404)."""
    run = DryRun()
    captured = _log_in(client, origin, mix["setup"], run) if "setup" in mix else {}
    if "setup" not in mix and _missing_env(mix):
        run.notes.append(f"export {', '.join(_missing_env(mix))} (the drafted headers read them)")
    for request in mix["requests"]:
        capture = request.get("capture", {})
        if LIST_ID not in capture.values():
            continue
        answer = _send(client, origin, request, captured)
        body = None
        if isinstance(answer, httpx.Response) and answer.status_code == 200:
            try:
                body = answer.json()
            except ValueError:
                body = None
        where = _id_path(body)
        for name in [n for n, v in capture.items() if v == LIST_ID]:
            if where is not None:
                capture[name] = where
                captured[name] = _dig(body, where)
            else:
                del capture[name]
                _fall_back(mix, name)
                run.notes.append(
                    f"no ids found in {request['name']}: {{{{ {name} }}}} is a nil UUID"
                )
        if not capture:
            request.pop("capture", None)
    for request in mix["requests"]:
        counts: Counter[str] = Counter()
        for _ in range(each if each > 0 else 0):
            answer = _send(client, origin, request, captured)
            counts[str(answer.status_code) if isinstance(answer, httpx.Response) else answer] += 1
        if each > 0:
            run.statuses[request["name"]] = counts
    return run


def _fall_back(mix: dict[str, Any], name: str) -> None:
    for request in mix["requests"]:
        if f"{{{{ {name} }}}}" in request["path"]:
            request["path"] = request["path"].replace(f"{{{{ {name} }}}}", NIL_UUID)
            request["expect"] = [200, 404]
