"""A service of known capacity: `--workers K` requests served at once, each `--service-ms D`
(a sleep: no CPU), the rest queued. Capacity = K / D; above it the queue, and the latency,
grow without bound.

`python tests/load/capacity_server.py --port P [--workers K] [--service-ms D] [--prefix /v1]`:
`GET <prefix>/ping` -> 200 after its turn and D ms; anything else -> 404.
"""

from __future__ import annotations

import argparse
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# a scenario on this service for `chaosgate capacity` (tests/load/test_capacity*.py): format it
# with url, address (host:port) and extra (more KPI lines, or "")
SCENARIO = """\
name: known
target: {{target_url: "{url}", upstreams: {{db: "{address}"}}}}
load:
  users: [ping]
  rate: [{{rps: 20, hold_s: 5s}}]
  warmup_s: 1s
  drain_s: 1s
  tolerance_ms: 50     # a shared 2-core machine: the search, not the generator, is under test
  late_fraction_max: 0.05
  host_busy_percent: 400  # the service sleeps (no CPU): the others' work barely moves it
kpis:
  - p95(GET /ping) < 200ms during baseline   # 5 service times: only a growing queue breaks it
  - error_rate(GET /ping) < 5% during baseline   # 5 %: a short step still has its evidence
{extra}"""


def handler(
    workers: threading.Semaphore, service_s: float, prefix: str = ""
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

        def do_GET(self) -> None:
            if self.path.split("?")[0] != f"{prefix}/ping":
                self.send_error(404)
                return
            with workers:  # one of K servers; the others wait their turn
                time.sleep(service_s)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--service-ms", type=float, default=40.0)
    parser.add_argument("--prefix", default="", help="the path every request goes under")
    args = parser.parse_args()
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port),
        handler(threading.Semaphore(args.workers), args.service_ms / 1000, args.prefix),
    )
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
