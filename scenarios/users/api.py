"""API user: the SUT's health and item endpoints, one request per scheduled send."""

from __future__ import annotations

import uuid
from typing import ClassVar

from locust import task

from scenarios.users.base import OpenModelUser


class ApiUser(OpenModelUser):
    weight = 3
    request_names: ClassVar[tuple[str, ...]] = (
        "GET /api/health",
        "GET /api/items",
        "GET /api/items/{item_id}",
        "POST /api/items",
    )

    def on_start(self) -> None:
        # An item of our own to read back; made before the schedule begins (an unscheduled
        # request: not part of the figures). If the SUT refuses, the reads use the list.
        self.item_id: int | None = None
        with self.client.post(
            "/api/items",
            json={"name": f"load-{uuid.uuid4().hex[:8]}", "owner_id": "chaosgate-load"},
            name="POST /api/items",
            catch_response=True,
        ) as response:
            if response.status_code == 201:
                self.item_id = int(response.json()["id"])
            response.success()  # setup: never counted against the SUT
        super().on_start()

    @task(5)
    def health(self) -> None:
        self.client.get("/api/health", name="GET /api/health")

    @task(3)
    def list_items(self) -> None:
        self.client.get("/api/items?limit=20", name="GET /api/items")

    @task(2)
    def one_item(self) -> None:
        if self.item_id is None:
            self.list_items()
        else:
            self.client.get(f"/api/items/{self.item_id}", name="GET /api/items/{item_id}")

    @task(1)
    def create_item(self) -> None:
        body = {"name": f"load-{uuid.uuid4().hex[:8]}", "owner_id": "chaosgate-load"}
        self.client.post("/api/items", json=body, name="POST /api/items")
