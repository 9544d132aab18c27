"""Locust user behaviours, selectable by name. This module imports no Locust (the harness reads it);
the classes themselves live in submodules that only the load worker process imports."""

from __future__ import annotations

# name -> "module:Class"
USER_CLASSES: dict[str, str] = {
    "api": "scenarios.users.api:ApiUser",
    "dashboard": "scenarios.users.dashboard:DashboardUser",
    "memory": "scenarios.users.memory:MemoryUser",
    "websocket": "scenarios.users.websocket:WebSocketUser",
    "ping": "scenarios.users.ping:PingUser",  # the engine measuring itself (bench, tests)
}
