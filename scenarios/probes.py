"""Probes: sample the SUT's own view of itself every ~0.5 s into `ProbeSample`s.

From `/api/ready`: `ready` (1/0) and, per dependency, `<dep>_query` = the readiness check's
`response_time_ms` -- a real query the SUT runs through its own pool and proxy. `db_query` is
the Postgres one: that is the series `avg(db_query) < 50ms` reads (the SUT exposes no
per-query histogram, and this query takes exactly the path the SUT's queries take).
From `/metrics`: `breaker.<dep>` (0 closed, 1 half-open, 2 open), `pool.<dep>.in_use|idle|waiting`,
`ws.queue_depth`, and `breaker.<replica>` per ai_memory replica (0 in the gateway's rotation,
1 its breaker half-open, 2 out: unhealthy or breaker open).
"""

from __future__ import annotations

import contextlib
import threading
import time

import httpx

from fixtures.faults.sut_metrics import read_metrics
from fixtures.stack import DEPENDENCIES, REPLICAS
from reports.model import ProbeSample

QUERY_SERIES = {"postgres": "db_query", "redis": "redis_query", "warehouse": "warehouse_query"}
_GAUGES = {
    "sut_breaker_state": "breaker.{dependency}",
    "sut_pool_in_use": "pool.{dependency}.in_use",
    "sut_pool_idle": "pool.{dependency}.idle",
    "sut_pool_waiting": "pool.{dependency}.waiting",
    "sut_mcp_replica_state": "breaker.{replica}",  # 2 = out of the gateway's rotation
}
# Every numeric series the probes can record: the names a KPI argument may give.
PROBE_SERIES: frozenset[str] = frozenset(
    {"ready", "ws.queue_depth", *QUERY_SERIES.values()}
    | {
        template.format(dependency=d, replica=r)
        for template in _GAUGES.values()
        for d in DEPENDENCIES
        for r in REPLICAS
    }
)


class Probes:
    def __init__(self, base_url: str, t0: float, interval_s: float = 0.5, timeout_s: float = 2.0):
        self.base_url, self.t0 = base_url.rstrip("/"), t0
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.samples: list[ProbeSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="probes", daemon=True)
        self._lock = threading.Lock()

    def __enter__(self) -> Probes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout_s * 2 + self.interval_s)

    def snapshot(self) -> list[ProbeSample]:
        with self._lock:
            return list(self.samples)

    def _add(self, t_s: float, name: str, value: float | str) -> None:
        with self._lock:
            self.samples.append(ProbeSample(t_s=round(t_s, 3), name=name, value=value))

    def _loop(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while not self._stop.is_set():
                started = time.time()
                self.sample(client)
                self._stop.wait(max(0.0, self.interval_s - (time.time() - started)))

    def sample(self, client: httpx.Client) -> None:
        t_s = time.time() - self.t0
        try:
            response = client.get(f"{self.base_url}/api/ready")
            self._add(t_s, "ready", 1.0 if response.status_code == 200 else 0.0)
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                for dependency, check in response.json()["checks"].items():
                    series = QUERY_SERIES.get(dependency)
                    if series and check.get("ok") and check.get("response_time_ms") is not None:
                        self._add(t_s, series, float(check["response_time_ms"]))
        except httpx.HTTPError as error:
            self._add(t_s, "ready", 0.0)
            self._add(t_s, "probe.error", type(error).__name__)
            return
        try:
            metrics = read_metrics(f"{self.base_url}/metrics", self.timeout_s)
        except httpx.HTTPError:
            return
        for (name, labels), value in metrics.items():
            template = _GAUGES.get(name)
            label = dict(labels)
            if template and ("dependency" in label or "replica" in label):
                self._add(t_s, template.format(**label), value)
            elif name == "sut_ws_queue_depth":
                self._add(t_s, "ws.queue_depth", value)
