"""A small service that leaks memory at a known rate: every request keeps `--leak-kb` KiB in a
list that is never emptied (a cache without eviction), so under R requests/s its RSS grows by
R x leak-kb KiB per second. `--leak-kb 0` is the same service without the leak.

`python tests/load/leaky_server.py --port P [--leak-kb K]`: every GET answers 200 "ok"
(threaded, keep-alive). Not the reference SUT: a test service for the slope KPI.
"""

from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEPT: list[bytes] = []  # what the leak holds on to


def handler(leak_bytes: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if leak_bytes:
                KEPT.append(b"x" * leak_bytes)  # written, so resident
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--leak-kb", type=float, default=0.0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(round(args.leak_kb * 1024)))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
