"""A small JSON service for the user's-own-load tests (threaded, HTTP/1.1 keep-alive).

`python tests/load/user_server.py --port P [--setup-delay-ms D --slow-posts N]`:
- `POST /login`, and the first N `POST /api/items`: answer after D ms (a user's set-up)
- `POST /items` -> 201 {"id": n}; `GET /items/{id}` -> 200 {"id": id} if created, else 404
- `GET /hang`: answers 200 after 3 s (past a short client timeout)
- `GET /degraded`: 200 {"part": {"status": "degraded"}} with `X-Degraded: part`
- any other path -> 200 {"ok": true}
- `GET /_stall?ms=N`: responses to requests arriving in the next N ms wait until N ms from
  now; answers {"start": t, "end": t}
- `GET /_log`: {"requests": [[arrived, done, method, path, x-tenant], ...]} (control excluded)
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class State:
    def __init__(self, setup_delay_s: float, slow_posts: int) -> None:
        self.lock = threading.Lock()
        self.setup_delay_s = setup_delay_s
        self.slow_posts = slow_posts
        self.stall_until = 0.0
        self.items: set[int] = set()
        self.log: list[list[Any]] = []


STATE = State(0.0, 0)


class Server(ThreadingHTTPServer):
    request_queue_size = 512  # socketserver's 5 drops SYNs: clients retry connecting after 1 s
    daemon_threads = True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _control(self, path: str) -> bool:
        if path.startswith("/_stall"):
            ms = float(parse_qs(urlsplit(path).query).get("ms", ["1000"])[0])
            now = time.time()
            STATE.stall_until = now + ms / 1000
            self._send(200, {"start": now, "end": STATE.stall_until})
            return True
        if path == "/_log":
            with STATE.lock:
                self._send(200, {"requests": list(STATE.log)})
            return True
        return False

    def _handle(self, method: str) -> None:
        arrived = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path
        if self._control(path):
            return
        delay = max(0.0, STATE.stall_until - arrived)
        status: int = 200
        answer: dict[str, Any] = {"ok": True}
        with STATE.lock:
            slow = method == "POST" and path == "/login"
            if method == "POST" and path == "/api/items" and STATE.slow_posts > 0:
                STATE.slow_posts -= 1
                slow = True
            if method == "POST" and path in ("/items", "/api/items"):
                item = len(STATE.items) + 1
                STATE.items.add(item)
                status, answer = 201, {"id": item, "sent": json.loads(body or b"null")}
            elif method == "GET" and path.startswith("/items/"):
                key = path.removeprefix("/items/")
                known = key.isdigit() and int(key) in STATE.items
                status, answer = (200, {"id": int(key)}) if known else (404, {"detail": "no"})
        if slow:
            delay = max(delay, STATE.setup_delay_s)
        if path == "/hang":
            delay = max(delay, 3.0)
        time.sleep(delay)
        if path == "/degraded":
            data = json.dumps({"part": {"status": "degraded"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Degraded", "part")
            self.end_headers()
            self.wfile.write(data)
        else:
            self._send(status, answer)
        with STATE.lock:
            STATE.log.append([arrived, time.time(), method, path, self.headers.get("X-Tenant")])

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--setup-delay-ms", type=float, default=0.0)
    parser.add_argument("--slow-posts", type=int, default=0)
    args = parser.parse_args()
    STATE.setup_delay_s, STATE.slow_posts = args.setup_delay_ms / 1000, args.slow_posts
    Server(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
