"""API user: the SUT's plain data and health endpoints (C2), one request per scheduled send."""

from __future__ import annotations

import random

from locust import task

from scenarios.users.base import OpenModelUser


class ApiUser(OpenModelUser):
    weight = 3

    @task(5)
    def health(self) -> None:
        self.client.get("/api/health", name="GET /api/health")

    @task(3)
    def list_items(self) -> None:
        self.client.get("/api/items", name="GET /api/items")

    @task(2)
    def one_item(self) -> None:
        item = random.randint(1, 4)  # the SUT seeds items 1-4 (sut/api/schema.py SEED_ITEMS)
        self.client.get(f"/api/items/{item}", name="GET /api/items/{item_id}")
