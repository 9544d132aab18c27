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
        # the SUT's MemoryIn (sut/mcp/routes.py): key, content, tags
        key = f"user-{random.randint(1, 50)}-{uuid.uuid4().hex[:8]}"
        body = {"key": key, "content": f"note {key}", "tags": ["load"]}
        self.client.post("/api/memories", json=body, name="POST /api/memories")

    @task(2)
    def search(self) -> None:
        user_id = random.randint(1, 50)
        self.client.get(f"/api/memories?query=user-{user_id}", name="GET /api/memories")
