"""A service that sheds like the reference SUT's pool: `POST /api/items` beyond `--shed N`
at once is refused (503) at once; each accepted one takes `--post-ms` (threaded, keep-alive).

`python tests/load/shed_server.py --port P [--shed N] [--post-ms D] [--refuse-posts]`:
- `POST /api/items` -> 201 {"id": n} (503 beyond N in progress, or always with --refuse-posts)
- `GET /api/items/{id}` -> 200 if made here, else 404; `GET /api/items`, `GET /api/health` -> 200
- `GET /_stats` -> {"posts": accepted, "refused": n, "max_in_progress": m}
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class State:
    def __init__(self, shed: int, post_s: float, refuse: bool) -> None:
        self.lock = threading.Lock()
        self.shed, self.post_s, self.refuse = shed, post_s, refuse
        self.in_progress = self.max_in_progress = self.refused = 0
        self.items: set[int] = set()


def handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                shed = state.refuse or state.in_progress >= state.shed
                if shed:
                    state.refused += 1
                else:
                    state.in_progress += 1
                    state.max_in_progress = max(state.max_in_progress, state.in_progress)
            if shed:
                self._send(503, {"detail": "shed"})
                return
            time.sleep(state.post_s)
            with state.lock:
                state.in_progress -= 1
                item = len(state.items) + 1
                state.items.add(item)
            self._send(201, {"id": item})

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/_stats":
                self._send(200, {"posts": len(state.items), "refused": state.refused,
                                 "max_in_progress": state.max_in_progress})  # fmt: skip
            elif path.startswith("/api/items/"):
                found = (
                    path.rsplit("/", 1)[1].isdigit() and int(path.rsplit("/", 1)[1]) in state.items
                )
                self._send(200 if found else 404, {"found": found})
            else:
                self._send(200, {"ok": True})

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--shed", type=int, default=10)
    parser.add_argument("--post-ms", type=float, default=50.0)
    parser.add_argument("--refuse-posts", action="store_true")
    args = parser.parse_args()
    state = State(args.shed, args.post_ms / 1000, args.refuse_posts)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(state))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
