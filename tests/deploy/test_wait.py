"""The init container of a Kubernetes SUT pod (fixtures.deploy.wait): it holds the pod until
what the pod's spec starts after answers through Toxiproxy. A proxy whose upstream is down
accepts the connection and closes it: that is not an answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fixtures.deploy.wait import answers
from fixtures.pings import POSTGRES_SSL_REQUEST

pytestmark = pytest.mark.unit


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _tcp(reply: Callable[[bytes], bytes]) -> Iterator[int]:
    """A server answering each connection's first bytes with `reply` (b"": it closes)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(64)
                if answer := reply(data):
                    conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def postgres() -> Iterator[int]:
    yield from _tcp(lambda data: b"N" if data == POSTGRES_SSL_REQUEST else b"")


@pytest.fixture
def proxy_upstream_down() -> Iterator[int]:
    yield from _tcp(lambda _data: b"")


def test_http_answers_200(http: str) -> None:
    assert answers(f"{http}/health")
    assert not answers(f"{http}/ready")  # 503: not yet


def test_postgres_answers_its_ssl_request(postgres: int, proxy_upstream_down: int) -> None:
    assert answers(f"pg://127.0.0.1:{postgres}")
    assert not answers(f"pg://127.0.0.1:{proxy_upstream_down}")


def test_nothing_listening_is_not_an_answer_and_an_unknown_check_is_an_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    assert not answers(f"pg://127.0.0.1:{port}")
    with pytest.raises(ValueError, match="no check"):
        answers(f"mysql://127.0.0.1:{port}")
