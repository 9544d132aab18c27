"""Dashboard user: the performance dashboard (parallel gathers, cached) and the health dashboard."""

from __future__ import annotations

import random
from typing import ClassVar

from locust import task

from scenarios.users.answers import ResponseRule, parse_named_rules, register
from scenarios.users.base import OpenModelUser

# A part that missed its deadline (or failed) is answered {"status": "degraded", ...} with a
# 200 and named in X-Dashboard-Degraded: a degraded answer, not a success (degraded_rate).
RESPONSE_RULES: dict[str, tuple[ResponseRule, ...]] = parse_named_rules(
    {
        "GET /api/dashboard/performance": [
            {"header": "X-Dashboard-Degraded", "then": "degraded"},
            {"json": "*.status", "equals": "degraded", "then": "degraded"},
        ]
    },
    "DashboardUser.response_rules",
)
register(RESPONSE_RULES)


class DashboardUser(OpenModelUser):
    weight = 1
    response_rules = RESPONSE_RULES
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
