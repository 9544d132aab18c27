"""Ping user: one `GET /ping` per scheduled send. Measures the engine itself (bench, tests)."""

from __future__ import annotations

from typing import ClassVar

from locust import task

from scenarios.users.base import OpenModelUser


class PingUser(OpenModelUser):
    request_names: ClassVar[tuple[str, ...]] = ("GET /ping",)

    @task
    def ping(self) -> None:
        self.client.get("/ping", name="GET /ping")
