"""The backend's Prometheus metrics, on a per-app registry.

A registry per app lets tests build several apps in one process.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class SutMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.breaker_state = Gauge(
            "sut_breaker_state",
            "Circuit breaker state (0 closed, 1 half-open, 2 open)",
            ["dependency"],
            registry=r,
        )
        self.pool_in_use = Gauge(
            "sut_pool_in_use", "Connections held by callers", ["dependency"], registry=r
        )
        self.pool_idle = Gauge("sut_pool_idle", "Open idle connections", ["dependency"], registry=r)
        self.pool_waiting = Gauge(
            "sut_pool_waiting", "Callers waiting for a connection", ["dependency"], registry=r
        )
        self.ready = Gauge("sut_ready", "1 when the last readiness check passed", registry=r)
        self.request_duration = Histogram(
            "sut_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ws_queue_depth = Gauge(
            "sut_ws_queue_depth", "Messages queued for WebSocket clients", registry=r
        )
        self.dependency_errors = Counter(
            "sut_dependency_errors",
            "Dependency errors by kind",
            ["dependency", "kind"],
            registry=r,
        )
        self.db_queries = Counter(
            "sut_db_queries",
            "Statements sent to a database (kind: app, or driver housekeeping)",
            ["dependency", "kind"],
            registry=r,
        )
        self.dependency_calls = Counter(
            "sut_dependency_calls",
            "Calls the service made on a dependency (its breaker let them through)",
            ["dependency"],
            registry=r,
        )
        self.mcp_replica_state = Gauge(
            "sut_mcp_replica_state",
            "An ai_memory replica as the gateway routes it (0 in rotation, 1 breaker half-open, "
            "2 out: unhealthy or breaker open), from the last health tick",
            ["replica"],
            registry=r,
        )
        self.dashboard_cache = Counter(
            "sut_dashboard_cache", "Dashboard cache lookups", ["result"], registry=r
        )

    def watch_pool(self, dependency: str, stats: Callable[[], tuple[int, int, int]]) -> None:
        """Pool gauges read live at scrape time from `stats() -> (in_use, idle, waiting)`."""
        self.pool_in_use.labels(dependency).set_function(lambda: stats()[0])
        self.pool_idle.labels(dependency).set_function(lambda: stats()[1])
        self.pool_waiting.labels(dependency).set_function(lambda: stats()[2])
