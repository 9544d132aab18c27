"""MCP-memory user: the backend's memory endpoints, which go through the MCP gateway to the
ai_memory replicas: remember, recall by key, search."""

from __future__ import annotations

import random
import uuid
from typing import ClassVar

from locust import task

from scenarios.users.base import OpenModelUser


class MemoryUser(OpenModelUser):
    weight = 1
    request_names: ClassVar[tuple[str, ...]] = (
        "POST /api/memories",
        "GET /api/memories/{key}",
        "GET /api/memories",
    )

    def on_start(self) -> None:
        self.keys: list[str] = []
        super().on_start()

    @task(1)
    def remember(self) -> None:
        key = f"load-{uuid.uuid4().hex[:12]}"
        body = {"key": key, "content": f"note {key}"}
        with self.client.post(
            "/api/memories", json=body, name="POST /api/memories", catch_response=True
        ) as response:
            if response.status_code == 201 and len(self.keys) < 100:
                self.keys.append(key)

    @task(2)
    def recall(self) -> None:
        if not self.keys:
            self.remember()
            return
        key = random.choice(self.keys)
        self.client.get(f"/api/memories/{key}", name="GET /api/memories/{key}")

    @task(1)
    def search(self) -> None:
        self.client.get("/api/memories?query=note", name="GET /api/memories")
