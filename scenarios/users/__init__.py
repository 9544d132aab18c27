"""Locust user behaviours, selectable by name. This module imports no Locust (the harness reads it);
the classes themselves live in submodules that only the load worker process imports."""

from __future__ import annotations

import ast
import functools
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


@functools.cache
def request_names(user: str) -> tuple[str, ...]:
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
