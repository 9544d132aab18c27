"""API user: the SUT's health and item endpoints, one request per scheduled send."""

from __future__ import annotations

import json
import uuid
from typing import ClassVar

from locust import task

from scenarios.users.base import OpenModelUser, SetupRefused


class ApiUser(OpenModelUser):
    weight = 3
    request_names: ClassVar[tuple[str, ...]] = (
        "GET /api/health",
        "GET /api/items",
        "GET /api/items/{item_id}",
        "POST /api/items",
    )

    def on_start(self) -> None:
        # An item of our own to read back, made before the schedule begins (paced, retried,
        # counted: TicketedUser.set_up; not part of the figures). None: the set-up failed.
        self.item_id: int | None = self.set_up("POST /api/items", self._create_item)
        super().on_start()

    def _create_item(self) -> int:
        with self.client.post(
            "/api/items",
            json={"name": f"load-{uuid.uuid4().hex[:8]}", "owner_id": "chaosgate-load"},
            name="POST /api/items",  # set-up: in no figure (no ticket)
            catch_response=True,
        ) as response:
            response.success()  # set-up: never in the figures (the tally counts it)
            status, body = response.status_code, response.text
        if status != 201:
            raise SetupRefused(f"http_{status}" if status else "connection error")
        return int(json.loads(body or "{}")["id"])

    @task(5)
    def health(self) -> None:
        self.client.get("/api/health", name="GET /api/health")

    @task(3)
    def list_items(self) -> None:
        self.client.get("/api/items?limit=20", name="GET /api/items")

    @task(2)
    def one_item(self) -> None:
        if self.item_id is None:  # never the list instead: a set-up failure, counted
            self.missing("GET /api/items/{item_id}")
            return
        self.client.get(f"/api/items/{self.item_id}", name="GET /api/items/{item_id}")

    @task(1)
    def create_item(self) -> None:
        body = {"name": f"load-{uuid.uuid4().hex[:8]}", "owner_id": "chaosgate-load"}
        self.client.post("/api/items", json=body, name="POST /api/items")
