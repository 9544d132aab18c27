"""Dashboard user: the performance dashboard (parallel gathers, cached) and the health dashboard."""

from __future__ import annotations

import random
from typing import ClassVar

from locust import task

from scenarios.users.base import OpenModelUser


class DashboardUser(OpenModelUser):
    weight = 1
    request_names: ClassVar[tuple[str, ...]] = (
        "GET /api/dashboard/performance",
        "GET /api/health/dashboard",
    )

    @task(4)
    def performance(self) -> None:
        user_id = random.randint(1, 50)
        self.client.get(
            f"/api/dashboard/performance?user_id={user_id}", name="GET /api/dashboard/performance"
        )

    @task(1)
    def health_dashboard(self) -> None:
        self.client.get("/api/health/dashboard", name="GET /api/health/dashboard")
