"""A service whose /metrics is not Prometheus text: the probes note it and go on (they once died
with a prometheus_client ValueError traceback in their thread, under `chaosgate load`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from scenarios.probes import Probes


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}' if self.path == "/api/ready" else b"<html>metrics here</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_metrics_that_are_not_prometheus_text_are_noted_not_fatal(service: str) -> None:
    probes = Probes(service, time.time(), timeout_s=1.0)  # the reference profile: /metrics
    with httpx.Client(timeout=1.0) as client:
        probes.sample(client)
        probes.sample(client)
    names = [s.name for s in probes.samples]
    assert names.count("ready") == 2
    errors = [str(s.value) for s in probes.samples if s.name == "probe.error"]
    assert len(errors) == 2
    assert all("not Prometheus text" in e for e in errors)
