"""Probes: sample the service's own view of itself every ~0.5 s into `ProbeSample`s, as its
signals profile (fixtures.signals) says where to look. No profile: no probes at all.

From the readiness URL: `ready` (1/0) and, per dependency, `<dep>_query` = the readiness
check's query time (`db_query` is Postgres': the series `avg(db_query) < 50ms` reads; the
reference SUT exposes no per-query histogram, and its check takes the path its queries take).
From the metrics URL: `breaker.<dep>` (0 closed, 1 half-open, 2 open), `pool.<dep>.in_use|idle|
waiting`, `ws.queue_depth`, `breaker.<replica>` per replica (reference: 0 in the gateway's
rotation, 1 its breaker half-open, 2 out: unhealthy or breaker open), and `calls.<dep>` = the
service's own counter of calls per dependency (cumulative; `amplification(dep)` reads it).
From the stack itself (scenarios.resources): `edge.<dep>.open|bytes_up|bytes_down` and
`proc.<process>.rss_mb|fds`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx

from fixtures.faults.sut_metrics import Samples, read_metrics
from fixtures.signals import (
    EDGE_PARTS,
    MetricsSignal,
    ReadySignal,
    SignalsProfile,
    calls_series,
    dependency_check,
    dotted,
    query_series,
    reference_signals,
    series_names,
)
from fixtures.stack import DEPENDENCIES, PROXIES, REPLICAS, SUT_PROCESSES, Stack
from reports.model import ProbeSample
from scenarios.resources import ResourceProbe

# The series the reference SUT's profile yields: the names a KPI argument may give when the
# scenario names no target (a scenario with a target validates against its own profile).
# Edges: every proxy but the client's (the backend's dependencies and the MCP path's).
PROBE_SERIES: frozenset[str] = series_names(
    reference_signals(), DEPENDENCIES, REPLICAS, (*DEPENDENCIES, *SUT_PROCESSES)
) | {f"edge.{proxy}.{part}" for proxy in PROXIES if proxy != "client" for part in EDGE_PARTS}


def is_ready(spec: ReadySignal, response: httpx.Response) -> bool:
    if response.status_code not in spec.ready_status:
        return False
    if spec.json_field is None:
        return True
    try:
        found = dotted(response.json(), spec.json_field)
    except (ValueError, KeyError, TypeError, IndexError):
        return False
    return spec.ready_value is None or found == spec.ready_value


def query_times(
    spec: ReadySignal, body: Any, dependencies: Sequence[str], failed_ms: float | None = None
) -> dict[str, float]:
    """Each dependency's query time from the readiness body. A check that says `ok: false`
    beside its time timed a failure, not a query: it counts as `failed_ms` (the probe's
    timeout: a query that did not answer took at least that long; skipping it would let
    `avg(db_query)` read only the checks that worked), or is skipped when None."""
    found = {}
    for dependency in dependencies:
        check = dependency_check(spec, body, dependency)
        if check is None:
            continue
        if not check.ok:
            if failed_ms is not None:
                found[query_series(dependency)] = failed_ms
            continue
        if check.ms is not None:
            found[query_series(dependency)] = check.ms
    return found


def metric_series(spec: MetricsSignal, samples: Samples) -> dict[str, float]:
    """Profile metrics -> series values (a breaker on the 0 / 1 / 2 scale)."""
    found: dict[str, float] = {}
    for (name, labels), value in samples.items():
        label = dict(labels)
        if spec.breaker and name == spec.breaker.metric and spec.breaker.label in label:
            state = 2.0 if value >= spec.breaker.open_at else 1.0 if value > 0 else 0.0
            found[f"breaker.{label[spec.breaker.label]}"] = state
        for part in ("in_use", "idle", "waiting"):
            pool = getattr(spec, f"pool_{part}")
            if pool and name == pool.metric and pool.label in label:
                found[f"pool.{label[pool.label]}.{part}"] = value
        if spec.queue_depth and name == spec.queue_depth.metric:
            found["ws.queue_depth"] = found.get("ws.queue_depth", 0.0) + value
        if spec.replica and name == spec.replica.metric and spec.replica.label in label:
            found[f"breaker.{label[spec.replica.label]}"] = value
        if spec.calls and name == spec.calls.metric and spec.calls.label in label:
            found[calls_series(label[spec.calls.label])] = value
    return found


class Probes:
    def __init__(
        self,
        base_url: str,
        t0: float,
        interval_s: float = 0.5,
        timeout_s: float = 2.0,
        *,
        signals: SignalsProfile | None = None,
        dependencies: Sequence[str] = DEPENDENCIES,
    ):
        self.base_url, self.t0 = base_url.rstrip("/"), t0
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.signals = reference_signals() if signals is None else signals
        self.enabled = True
        self.dependencies = tuple(dependencies)
        self.resources: ResourceProbe | None = None  # edges and processes (for_stack)
        self.samples: list[ProbeSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="probes", daemon=True)
        # edges and processes on a thread of their own: a slow service must not thin them out,
        # nor their /proc reads (10-500 ms on a busy host) the readiness samples
        self._resource_thread = threading.Thread(
            target=self._resource_loop, name="probes-resources", daemon=True
        )
        self._lock = threading.Lock()

    @classmethod
    def for_stack(cls, stack: Stack, t0: float, timeout_s: float = 2.0) -> Probes:
        """Probes as the stack's service declares its signals; off when it declares none."""
        probes = cls(stack.sut_direct_url, t0, timeout_s=timeout_s,
                     signals=stack.signals, dependencies=stack.dependencies)  # fmt: skip
        probes.enabled = stack.signals is not None
        probes.resources = ResourceProbe.for_stack(stack) if probes.enabled else None
        return probes

    def __enter__(self) -> Probes:
        if self.enabled:
            self._thread.start()
            if self.resources is not None:
                self._resource_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in (self._thread, self._resource_thread):
            if thread.is_alive():
                thread.join(self.timeout_s * 2 + self.interval_s)

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

    def _resource_loop(self) -> None:
        assert self.resources is not None
        with httpx.Client(timeout=self.timeout_s) as client:
            while not self._stop.is_set():
                started = time.time()
                for series, value in self.resources.sample(client).items():
                    self._add(started - self.t0, series, value)
                self._stop.wait(max(0.0, self.interval_s - (time.time() - started)))

    def sample(self, client: httpx.Client) -> None:
        t_s = time.time() - self.t0
        ready, metrics = self.signals.ready, self.signals.metrics
        if ready is not None:
            try:
                response = client.get(self.signals.ready_url(self.base_url) or "")
            except httpx.HTTPError as error:  # the probe's own failure, not "not ready"
                self._add(t_s, "probe.error", type(error).__name__)
                return
            self._add(t_s, "ready", 1.0 if is_ready(ready, response) else 0.0)
            try:
                body = response.json() if ready.dependency_query_ms else None
            except ValueError:
                body = None
            failed_ms = self.timeout_s * 1000.0
            for series, value in query_times(ready, body, self.dependencies, failed_ms).items():
                self._add(t_s, series, value)
        if metrics is None:
            return
        try:
            samples = read_metrics(self.signals.metrics_url(self.base_url) or "", self.timeout_s)
        except httpx.HTTPError:
            return
        except ValueError as error:  # not Prometheus text: a note, never a dead probe thread
            self._add(t_s, "probe.error", f"metrics: not Prometheus text ({error})"[:200])
            return
        for series, value in metric_series(metrics, samples).items():
            self._add(t_s, series, value)
