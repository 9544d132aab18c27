"""The signals profile: parsed with file:line errors; probes, and the pool fault's reading,
follow the names it declares (not the reference SUT's /api/ready and sut_* metrics)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from chaosgate.errors import ConfigError
from fixtures.faults.sut_metrics import pool_problem, read_pool
from fixtures.signals import SignalsProfile, load_signals, reference_signals
from fixtures.stack import Stack
from scenarios.probes import PROBE_SERIES, Probes

pytestmark = pytest.mark.unit

PROFILE = """\
ready:
  url: /healthz
  ready_status: [200]
  json_field: status
  ready_value: ok
  dependency_query_ms: "deps.{dependency}.ms"
metrics:
  url: /prom
  breaker: {metric: app_breaker_open, label: dep, open_at: 1}
  pool_in_use: {metric: app_pool_busy, label: dep}
  pool_idle: {metric: app_pool_free, label: dep}
  pool_waiting: {metric: app_pool_queue, label: dep}
  queue_depth: {metric: app_jobs_queued}
"""


class _Service(BaseHTTPRequestHandler):
    status: ClassVar[str] = "ok"

    def do_GET(self) -> None:
        if self.path == "/healthz":
            body = json.dumps({"status": type(self).status, "deps": {"db": {"ms": 3.5}}})
        elif self.path == "/html":
            body = "<html>metrics here</html>"
        elif self.path == "/prom":
            body = (
                'app_breaker_open{dep="db"} 1\napp_pool_busy{dep="db"} 4\n'
                'app_pool_free{dep="db"} 0\napp_pool_queue{dep="db"} 2\napp_jobs_queued 7\n'
            )
        else:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def service() -> Iterator[str]:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Service) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()
        thread.join(5)


def profile(tmp_path: Path, text: str = PROFILE) -> SignalsProfile:
    path = tmp_path / "signals.yaml"
    path.write_text(text)
    return load_signals(path)


def sample(base_url: str, signals: SignalsProfile) -> dict[str, float | str]:
    probes = Probes(base_url, 0.0, signals=signals, dependencies=("db", "cache"))
    with httpx.Client(timeout=2) as client:
        probes.sample(client)
    return {p.name: p.value for p in probes.snapshot()}


def test_probes_read_the_names_the_profile_declares(tmp_path: Path, service: str) -> None:
    seen = sample(service, profile(tmp_path))
    assert seen == {
        "ready": 1.0,
        "db_query": 3.5,
        "breaker.db": 2.0,  # open_at 1: a 1 is open, on the reference scale 2
        "pool.db.in_use": 4.0,
        "pool.db.idle": 0.0,
        "pool.db.waiting": 2.0,
        "ws.queue_depth": 7.0,
    }


def test_a_json_field_that_differs_is_not_ready(
    tmp_path: Path, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Service, "status", "degraded")
    assert sample(service, profile(tmp_path))["ready"] == 0.0


def test_a_target_without_a_profile_is_not_probed(service: str) -> None:
    """Old code: GET /api/ready on any service, its 404 read as "not ready" all run long."""
    stack = Stack(backend="external", toxiproxy=None, sut_url=service, sut_direct_url=service,  # type: ignore[arg-type]
                  signals=None)  # fmt: skip
    with Probes.for_stack(stack, 0.0, timeout_s=1.0) as probes:
        pass
    assert not probes.enabled
    assert probes.snapshot() == []


def test_the_pool_is_read_through_the_profile(tmp_path: Path, service: str) -> None:
    pool = read_pool(profile(tmp_path), service, "db", 2.0)
    assert (pool.in_use, pool.idle, pool.waiting, pool.dry) == (4.0, 0.0, 2.0, True)
    assert pool_problem(None) == "the target declares no signals profile"
    only_ready = profile(tmp_path, "ready: {url: /healthz}\n")
    assert pool_problem(only_ready) is not None
    with pytest.raises(ConfigError, match="pool of db cannot be read"):
        read_pool(only_ready, service, "db", 2.0)


def test_the_reference_profile_yields_the_series_kpis_knew() -> None:
    legacy = {"ready", "ws.queue_depth", "db_query", "redis_query", "warehouse_query"}
    for dependency in ("postgres", "redis", "warehouse"):
        legacy |= {f"breaker.{dependency}"} | {
            f"pool.{dependency}.{part}" for part in ("in_use", "idle", "waiting")
        }
    legacy |= {"breaker.ai_memory-1", "breaker.ai_memory-2"}
    assert legacy < PROBE_SERIES
    cost = {f"calls.{d}" for d in ("postgres", "redis", "warehouse")}
    cost |= {f"edge.{e}.{part}" for e in ("postgres", "gateway", "ai_memory-2")
             for part in ("open", "bytes_up", "bytes_down")}  # fmt: skip
    cost |= {f"proc.{p}.{part}" for p in ("backend", "postgres") for part in ("rss_mb", "fds")}
    assert cost < PROBE_SERIES
    assert not any(s.startswith(("calls.gateway", "edge.client")) for s in PROBE_SERIES)
    assert reference_signals().has_pool


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ready: {ur: /x}\n", ":1: signals.ready.ur: unknown key"),
        ("ready: {ur: /x}\n", ":1: signals.ready.url: required key missing"),
        ("metrics:\n  url: /m\n  breaker: {metric: 'bad name'}\n", ":3: signals.metrics.breaker.metric: String should match"),
        ("metrics:\n  url: /m\n  breaker: {metric: b, open_at: 0}\n", ":3: signals.metrics.breaker.open_at"),
        ("ready: {url: /x, ready_status: []}\n", ":1: signals.ready.ready_status"),
        ("bogus: 1\n", ":1: signals.bogus: unknown key (known here: ready, metrics, exercise)"),
        ("- a\n", ":1: signals: expected a mapping"),
        ("", ":1: the signals profile is empty"),
    ],
)  # fmt: skip
def test_a_bad_profile_names_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "signals.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_signals(path)
    assert f"{path}{expected}" in str(error.value), str(error.value)


def test_the_traffic_check_exercises_the_declared_readiness_url(
    tmp_path: Path, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old code: GET /api/ready on any service (a 404 that touches no dependency)."""
    import fixtures.faults.traffic as traffic

    asked: list[str] = []
    monkeypatch.setattr(httpx, "get", lambda url, **_kw: asked.append(url))
    stack = Stack(backend="external", toxiproxy=None, sut_url=service, sut_direct_url=service,  # type: ignore[arg-type]
                  signals=profile(tmp_path))  # fmt: skip
    traffic._exercise(stack, "db")
    assert asked == [f"{service}/healthz"]


def test_metrics_that_are_not_prometheus_text_are_noted_not_fatal(
    service: str, tmp_path: Path
) -> None:
    """They once killed the probe thread with a prometheus_client ValueError (`chaosgate load`)."""
    signals = profile(tmp_path, PROFILE.replace("url: /prom", "url: /html"))
    probes = Probes(service, 0.0, timeout_s=1.0, signals=signals, dependencies=("db",))
    with httpx.Client(timeout=1.0) as client:
        probes.sample(client)
        probes.sample(client)
    assert [s.name for s in probes.samples].count("ready") == 2
    errors = [str(s.value) for s in probes.samples if s.name == "probe.error"]
    assert len(errors) == 2
    assert all("not Prometheus text" in e for e in errors)


def test_chaosgate_load_probes_the_readiness_url_the_profile_names(
    tmp_path: Path, service: str
) -> None:
    """Old code asked /api/ready of every service: a /healthz service went unprobed."""
    from scenarios.live import exposes_readiness

    assert exposes_readiness(service, profile(tmp_path), 1.0)
    assert not exposes_readiness(service, reference_signals(), 1.0)  # its /api/ready: 404
    assert not exposes_readiness(service, None, 1.0)


def test_the_pool_fault_stirs_the_request_the_profile_names_for_a_dependency(
    tmp_path: Path,
) -> None:
    """The reference SUT's routes come from its own profile, not from a table in the fault."""
    base = "http://127.0.0.1:1"
    declared = profile(tmp_path, PROFILE + "exercise: {db: /orders?limit=5}\n")
    assert declared.exercise_url(base, "db") == f"{base}/orders?limit=5"
    assert declared.exercise_url(base, "cache") == f"{base}/healthz"  # else the ready URL
    reference = reference_signals()
    assert reference.exercise_url(base, "postgres") == f"{base}/api/items"
    assert reference.exercise_url(base, "warehouse") == f"{base}/api/ready"
