"""A stdlib HTTP/1.1 keep-alive server for the lean client's tests (one thread per connection).

`python tests/load/lean_server.py --port P`:
- `GET /ok` -> 200 "hello"; `GET /status/N` -> N; `GET /chunked` -> 200, a chunked body
- `GET /degraded` -> 200 {"part": {"status": "degraded"}} with `X-Degraded: part`
- `POST /echo` -> 201, the request's body and content type echoed as JSON
- `GET /close-after` -> 200, then the server closes the connection (no `Connection: close`)
- `GET /conn-close` -> 200 with `Connection: close`
- `GET /reset` -> the connection is reset, no answer; `GET /half` -> a body cut short
- `GET /hang` -> 200 after 2 s; `GET /headers` -> the request's headers, name -> [values]
- `GET /_connections` -> how many connections were accepted so far
- redirects (any method): `/items` -307-> `/items/` (200 "items"); `/moved` -302-> `/method`;
  `/keep` -308-> `/method` (200, the method and body echoed as JSON); `/hop/N` -302->
  `/hop/N-1`, `/hop/0` 200 "landed"; `/loop` -302-> itself (an absolute URL); `/to500` -303->
  `/status/500`; `/ftp` -302-> an ftp:// URL; HEAD of any redirect or `/method`; `/away` -307-> `/method` on another origin (localhost)
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONNECTIONS = [0]
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with LOCK:
            CONNECTIONS[0] += 1

    def log_message(self, *_: object) -> None:
        pass

    def _send(self, status: int, body: bytes, *headers: tuple[str, str]) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer is the GET's head alone
            self.wfile.write(body)

    def _redirected(self, body: bytes) -> bool:
        path = self.path
        hop = int(path.rsplit("/", 1)[1]) if path.startswith("/hop/") else 0
        if path == "/method":
            answer = {"method": self.command, "body": body.decode()}
            self._send(200, json.dumps(answer).encode(), ("Content-Type", "application/json"))
            return True
        moves = {
            "/items": (307, "/items/"),
            "/moved": (302, "/method"),
            "/keep": (308, "/method"),
            "/loop": (302, f"http://{self.headers['Host']}/loop"),
            "/to500": (303, "/status/500"),
            "/ftp": (302, "ftp://127.0.0.1/file"),
            "/away": (
                307,
                "http://localhost:" + self.headers["Host"].rsplit(":", 1)[1] + "/method",
            ),
            f"/hop/{hop}": (302, f"/hop/{hop - 1}"),
        }
        if path not in moves or path == "/hop/0":
            return False
        status, location = moves[path]
        self._send(status, b"moved", ("Location", location))
        return True

    def do_HEAD(self) -> None:
        if not self._redirected(b""):
            self._send(404, b"no such HEAD")

    def do_GET(self) -> None:
        path = self.path
        if self._redirected(b""):
            return
        if path == "/items/":
            self._send(200, b"items")
        elif path == "/hop/0":
            self._send(200, b"landed")
        elif path == "/ok":
            self._send(200, b"hello", ("Content-Type", "text/plain"))
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"status")
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"abc", b"defgh", b"ij"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/degraded":
            body = json.dumps({"part": {"status": "degraded"}}).encode()
            self._send(200, body, ("X-Degraded", "part"), ("Content-Type", "application/json"))
        elif path == "/close-after":
            self._send(200, b"bye")
            self.close_connection = True
        elif path == "/conn-close":
            self._send(200, b"bye", ("Connection", "close"))
            self.close_connection = True
        elif path == "/reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        elif path == "/half":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            self.close_connection = True
        elif path == "/hang":
            time.sleep(2)
            self._send(200, b"late")
        elif path == "/headers":
            seen: dict[str, list[str]] = {}
            for key, value in self.headers.items():
                seen.setdefault(key.lower(), []).append(value)
            self._send(200, json.dumps(seen).encode(), ("Content-Type", "application/json"))
        elif path == "/_connections":
            self._send(200, json.dumps(CONNECTIONS[0]).encode())
        else:
            self._send(404, b"no")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self._redirected(body):
            return
        answer = {"body": body.decode(), "type": self.headers.get("Content-Type")}
        self._send(201, json.dumps(answer).encode(), ("Content-Type", "application/json"))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    Server(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
