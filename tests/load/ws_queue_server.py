"""A tiny WebSocket queue server speaking contract C3, for testing the WebSocket user and checker
before (and independently of) the SUT. `--lose-every N` acks every Nth message but never
delivers it (a planted loss); `--drop-every N` closes the connection right after acking every
Nth message (the client must reconnect; the queue is replayed, so nothing is lost);
`--push-every N` also queues a server-originated message `srv-<k>` after every Nth message."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import websockets
from websockets.asyncio.server import ServerConnection, serve

QUEUES: dict[str, list[dict[str, Any]]] = {}
COUNT = {"n": 0}


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
        beat.cancel()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lose-every", type=int, default=0)
    parser.add_argument("--drop-every", type=int, default=0)
    parser.add_argument("--push-every", type=int, default=0)
    args = parser.parse_args()
    async with serve(lambda ws: handle(ws, args), "127.0.0.1", args.port):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
