"""MCP-memory user: the backend endpoints that go through the MCP gateway to the ai_memory replicas."""

from __future__ import annotations

import random
import uuid

from locust import task

from scenarios.users.base import OpenModelUser


class MemoryUser(OpenModelUser):
    weight = 1

    @task(1)
    def store(self) -> None:
        body = {"user_id": str(random.randint(1, 50)), "content": f"note {uuid.uuid4().hex[:8]}"}
        self.client.post("/api/memories", json=body, name="POST /api/memories")

    @task(2)
    def search(self) -> None:
        user_id = random.randint(1, 50)
        self.client.get(f"/api/memories?user_id={user_id}", name="GET /api/memories")
