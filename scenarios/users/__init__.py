"""Locust user behaviours, selectable by name, or the user's own: `path/to/locustfile.py:Class`
or a request mix `path/to/mix.yaml` (scenarios.users.locustfile, scenarios.users.request_mix).
This module imports no Locust (the harness reads it); the classes themselves live in
submodules that only the load worker process imports."""

from __future__ import annotations

import ast
import functools
import hashlib
import os
from pathlib import Path

# name -> "module:Class"
USER_CLASSES: dict[str, str] = {
    "api": "scenarios.users.api:ApiUser",
    "dashboard": "scenarios.users.dashboard:DashboardUser",
    "memory": "scenarios.users.memory:MemoryUser",
    "websocket": "scenarios.users.websocket:WebSocketUser",
    "websocket_offline": "scenarios.users.websocket_offline:OfflineWebSocketUser",
    "ping": "scenarios.users.ping:PingUser",  # the engine measuring itself (bench, tests)
}


MIX_SUFFIXES = (".yaml", ".yml")


class UnknownUser(ValueError):
    """Neither a shipped name nor a path to the user's own load."""


def is_mix(entry: str) -> bool:
    return entry.endswith(MIX_SUFFIXES)


def resolve_user(entry: str, base_dir: Path | None = None) -> str:
    """A `load.users` entry, checked: a shipped name as is; a locustfile class or a request
    mix with its path made absolute (relative paths: from `base_dir`, the scenario file's
    folder, else where the user stands), so the worker finds it whatever its cwd.
    Raises ValueError saying what was expected."""
    from scenarios.users.locustfile import inspect_class, split_entry
    from scenarios.users.request_mix import load_mix

    if entry in USER_CLASSES:
        return entry
    base = base_dir if base_dir is not None else Path.cwd()
    if (parts := split_entry(entry)) is not None:
        path = _absolute(base, parts[0])
        inspect_class(path, parts[1])
        return f"{path}:{parts[1]}"
    if is_mix(entry):
        path = _absolute(base, entry)
        load_mix(path)
        return str(path)
    known = ", ".join(sorted(USER_CLASSES))
    raise UnknownUser(
        f"unknown user class {entry!r} (known: {known}; or path/to/locustfile.py:ClassName, "
        "or path/to/mix.yaml)"
    )


def _absolute(base: Path, entry: str) -> Path:
    """`entry` from `base`, absolute and normalised but symlinks kept: messages name the path
    the user wrote (a dangling link, a symlink loop), and the worker finds it from any cwd."""
    return Path(os.path.abspath(base / Path(entry).expanduser()))


def class_name(entry: str) -> str:
    """The Locust class name the worker gives this entry (names must not collide)."""
    from scenarios.users.locustfile import split_entry

    if entry in USER_CLASSES:
        return USER_CLASSES[entry].rpartition(":")[2]
    if (parts := split_entry(entry)) is not None:
        return parts[1]
    stem = "".join(c if c.isalnum() else "_" for c in Path(entry).stem)
    digest = hashlib.sha1(entry.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"Mix_{stem}_{digest}"  # a/mix.yaml and b/mix.yaml: two classes


def request_names(user: str) -> tuple[str, ...]:
    """The request names of a `load.users` entry (see `resolve_user`)."""
    from scenarios.users.locustfile import inspect_class, split_entry
    from scenarios.users.request_mix import load_mix

    if user in USER_CLASSES:
        return _shipped_request_names(user)
    if (parts := split_entry(user)) is not None:
        return inspect_class(Path(parts[0]), parts[1])
    return load_mix(Path(user)).names


@functools.cache
def _shipped_request_names(user: str) -> tuple[str, ...]:
    """The request names a user class declares (`request_names`), read from its source so
    the harness validates KPIs without importing Locust (which patches the process)."""
    module, _, class_name = USER_CLASSES[user].partition(":")
    source = Path(__file__).with_name(module.rsplit(".", 1)[-1] + ".py")
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if not (isinstance(node, ast.ClassDef) and node.name == class_name):
            continue
        for statement in node.body:
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and statement.target.id == "request_names"
                and statement.value is not None
            ):
                return tuple(str(name) for name in ast.literal_eval(statement.value))
    raise LookupError(f"{USER_CLASSES[user]} declares no request_names")
