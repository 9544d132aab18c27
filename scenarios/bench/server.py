"""A tiny, fast HTTP/1.1 keep-alive server for measuring the load engine itself.

`python -m scenarios.bench.server --port P [--delay-ms D]`: every request answers 200 "ok"
after D ms. `GET /_count` answers `{"count": n, "held_p50_ms": m}` (requests served, median hold). `GET /_stall?ms=N` makes every response (pending or new) wait until N ms from now
and answers `{"start": t, "end": t}` (Unix times), so a test knows the true stall window.
`GET /_fail?ms=N` makes every request that ARRIVES in the next N ms answer 503 at once, and
answers `{"start": t, "end": t}`: a known-truth outage whose healing moment is exact.
uvloop + a raw asyncio Protocol: no framework, so the server is never the bottleneck we measure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import parse_qs, urlsplit

import uvloop

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
FAIL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nfail"
)


def _json(value: object) -> bytes:
    body = json.dumps(value).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    return head % len(body) + body


class State:
    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.stall_until = 0.0
        self.fail_until = 0.0
        self.served = 0  # requests answered, control requests excluded
        self.held: list[float] = []  # how long each response was really held (s), bounded

    def note_held(self, seconds: float) -> None:
        if len(self.held) < 200_000:
            self.held.append(seconds)


class Http(asyncio.Protocol):
    def __init__(self, state: State) -> None:
        self.state = state
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        # (due, response, arrived or None for control answers), in request order (pipelining)
        self.queue: list[tuple[float, bytes, float | None]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            self.buffer = self.buffer[length:]  # bodies are ignored
            self.respond(head.split(b" ", 2)[1].decode("latin-1"))

    def respond(self, target: str) -> None:
        now = time.time()
        if target.startswith("/_stall"):
            ms = float(parse_qs(urlsplit(target).query).get("ms", ["1000"])[0])
            self.state.stall_until = now + ms / 1000
            self.queue.append((now, _json({"start": now, "end": self.state.stall_until}), None))
        elif target.startswith("/_fail"):
            ms = float(parse_qs(urlsplit(target).query).get("ms", ["1000"])[0])
            self.state.fail_until = now + ms / 1000
            self.queue.append((now, _json({"start": now, "end": self.state.fail_until}), None))
        elif target.startswith("/_count"):
            held = sorted(self.state.held)
            p50_ms = held[len(held) // 2] * 1000 if held else None
            self.queue.append(
                (now, _json({"count": self.state.served, "held_p50_ms": p50_ms}), None)
            )
        elif now < self.state.fail_until:
            self.queue.append((now, FAIL, None))
        else:
            self.state.served += 1
            self.queue.append((now + self.state.delay_s, OK, now))
        if len(self.queue) == 1:
            self.schedule()

    def schedule(self) -> None:
        if not self.queue:
            return
        due = max(self.queue[0][0], self.state.stall_until)
        wait = due - time.time()
        loop = asyncio.get_running_loop()
        if wait <= 0 and self.state.delay_s == 0:
            self.send()
        else:
            loop.call_at(loop.time() + max(wait, 0.0), self.send)

    def send(self) -> None:
        if not self.queue:
            return
        if time.time() < self.state.stall_until:  # a stall began while this one waited
            self.schedule()
            return
        _, response, arrived = self.queue.pop(0)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)
            if arrived is not None:
                self.state.note_held(time.time() - arrived)
        self.schedule()


async def serve(port: int, delay_s: float) -> None:
    state = State(delay_s)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Http(state), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios.bench.server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    # libuv timers tick in whole milliseconds; asyncio's are sub-ms: use it to add exact delays
    run = uvloop.run if args.loop == "uvloop" else asyncio.run
    run(serve(args.port, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
