"""Ping user: one `GET /ping` per scheduled send. Measures the engine itself (bench, tests)."""

from __future__ import annotations

from locust import task

from scenarios.users.base import OpenModelUser


class PingUser(OpenModelUser):
    @task
    def ping(self) -> None:
        self.client.get("/ping", name="GET /ping")
