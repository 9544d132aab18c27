"""A tiny WebSocket queue server speaking the SUT's WebSocket protocol, for testing the WebSocket user and checker
before (and independently of) the SUT. `--lose-every N` acks every Nth message but never
delivers it (a planted loss); `--drop-every N` closes the connection right after acking every
Nth message (the client must reconnect; the queue is replayed, so nothing is lost);
`--push-every N` also queues a server-originated message `srv-<k>` after every Nth message;
`--outage-after N --outage-s S` is a backend outage: after the Nth message it closes every
connection and refuses new ones (HTTP 503 on the handshake) for S seconds, so sends attempted
meanwhile cannot be made."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time
from http import HTTPStatus
from typing import Any

import websockets
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

QUEUES: dict[str, list[dict[str, Any]]] = {}
COUNT = {"n": 0}
OPEN: set[ServerConnection] = set()
OUTAGE = {"until": 0.0}


def refuse_during_outage(ws: ServerConnection, _request: Request) -> Response | None:
    if time.time() < OUTAGE["until"]:
        return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "backend outage\n")
    return None


async def start_outage(seconds: float) -> None:
    OUTAGE["until"] = time.time() + seconds
    for connection in list(OPEN):  # every client drops at once
        await connection.close(code=1011)


async def handle(ws: ServerConnection, args: argparse.Namespace) -> None:
    client_id = ws.request.path.rsplit("/", 1)[-1] if ws.request else "?"
    queue = QUEUES.setdefault(client_id, [])
    for message in list(queue):  # replay what was not yet confirmed, in order
        await ws.send(json.dumps(message))

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(1.0)
            await ws.send(json.dumps({"type": "ping", "t": time.time()}))

    beat = asyncio.create_task(heartbeat())
    OPEN.add(ws)
    try:
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "send":
                COUNT["n"] += 1
                message = {
                    "type": "message",
                    "id": frame["id"],
                    "payload": frame.get("payload"),
                    "sent_at": time.time(),
                }
                lose = args.lose_every and COUNT["n"] % args.lose_every == 0
                if not lose:
                    queue.append(message)
                await ws.send(json.dumps({"type": "ack", "id": frame["id"]}))
                if args.outage_after and COUNT["n"] == args.outage_after:
                    await start_outage(args.outage_s)
                    return
                if args.drop_every and COUNT["n"] % args.drop_every == 0:
                    await ws.close()
                    return
                if not lose:
                    await ws.send(json.dumps(message))
                if args.push_every and COUNT["n"] % args.push_every == 0:
                    push = {"type": "message", "id": f"srv-{COUNT['n']}", "payload": None,
                            "sent_at": time.time()}  # fmt: skip
                    queue.append(push)
                    await ws.send(json.dumps(push))
            elif frame["type"] == "received":
                queue[:] = [m for m in queue if m["id"] != frame["id"]]
    except websockets.ConnectionClosed:
        pass
    finally:
        OPEN.discard(ws)
        beat.cancel()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lose-every", type=int, default=0)
    parser.add_argument("--drop-every", type=int, default=0)
    parser.add_argument("--push-every", type=int, default=0)
    parser.add_argument("--outage-after", type=int, default=0)
    parser.add_argument("--outage-s", type=float, default=0.0)
    args = parser.parse_args()
    handler = functools.partial(handle, args=args)
    async with serve(handler, "127.0.0.1", args.port, process_request=refuse_during_outage):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
