"""MCP-memory user: the backend's memory endpoints, which go through the MCP gateway to the
ai_memory replicas: remember, recall by key, search. Its set-up remembers one note, so a recall
always has a key of its own (without one, the recall is a set-up failure, never a remember)."""

from __future__ import annotations

import random
import uuid
from typing import ClassVar

from locust import task

from scenarios.users.base import OpenModelUser, SetupRefused


class MemoryUser(OpenModelUser):
    weight = 1
    request_names: ClassVar[tuple[str, ...]] = (
        "POST /api/memories",
        "GET /api/memories/{key}",
        "GET /api/memories",
    )

    def on_start(self) -> None:
        self.keys: list[str] = []
        key = self.set_up("POST /api/memories", self._first_memory)
        if key is not None:
            self.keys.append(key)
        super().on_start()

    def _first_memory(self) -> str:
        key = f"load-{uuid.uuid4().hex[:12]}"
        with self.client.post(
            "/api/memories",
            json={"key": key, "content": f"note {key}"},
            name="POST /api/memories",  # set-up: in no figure (no ticket)
            catch_response=True,
        ) as response:
            response.success()  # set-up: never in the figures (the tally counts it)
            status = response.status_code
        if status != 201:
            raise SetupRefused(f"http_{status}" if status else "connection error")
        return key

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
        if not self.keys:  # never a remember instead: a set-up failure, counted
            self.missing("GET /api/memories/{key}")
            return
        key = random.choice(self.keys)
        self.client.get(f"/api/memories/{key}", name="GET /api/memories/{key}")

    @task(1)
    def search(self) -> None:
        self.client.get("/api/memories?query=note", name="GET /api/memories")
