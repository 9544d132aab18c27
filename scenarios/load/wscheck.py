"""The WebSocket history checker (in the spirit of Jepsen's queue checker). Pure function.

A history is a list of events `{"kind", "client", "id", "t"}` (t: Unix time; a "failed" event
also carries "error"). Kinds: "attempted" (before the send call), then "failed" (it raised, or
the client was disconnected) or "sent" (it returned); "acked", "received", "reconnect".
Per the SUT's WebSocket protocol (README, "WebSocket"), in Jepsen's terms:
- attempted: every send the load asked for; failed + sent.
- unacknowledged: sent but never acked by the end (the server may or may not have it).
- received: distinct ids of ours (attempted) received at least once.
- lost: acknowledged and never received; the no-data-loss promise.
- duplicated: an id received twice (allowed by the protocol, but reported).
- unexpected: a received id this client never attempted (and not server-originated).
Histories recorded before "attempted" existed count a "sent" (or "failed") as attempted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from reports.hdr import encode, new_histogram
from reports.model import WebSocketSummary
from scenarios.load.recorder import clamp_us

Key = tuple[str, str]


def check_history(
    events: Iterable[Mapping[str, Any]], *, server_ids: Iterable[str] = ()
) -> WebSocketSummary:
    attempted: set[Key] = set()
    failed: dict[Key, str] = {}
    sent: dict[Key, float] = {}
    acked: set[Key] = set()
    received: Counter[Key] = Counter()
    first_received: dict[Key, float] = {}
    reconnects = 0
    for event in sorted(events, key=lambda e: float(e["t"])):
        key = (str(event.get("client", "")), str(event.get("id", "")))
        kind = event["kind"]
        if kind in ("attempted", "sent", "failed"):
            attempted.add(key)
        if kind == "sent":
            sent.setdefault(key, float(event["t"]))
        elif kind == "failed":
            failed.setdefault(key, str(event.get("error") or "unknown"))
        elif kind == "acked":
            acked.add(key)
        elif kind == "received":
            received[key] += 1
            first_received.setdefault(key, float(event["t"]))
        elif kind == "reconnect":
            reconnects += 1
    acknowledged = acked & attempted
    known_server = set(server_ids)
    latency = new_histogram()
    for key, t_sent in sent.items():
        if key in first_received:
            latency.record_value(clamp_us(first_received[key] - t_sent))
    return WebSocketSummary(
        attempted=len(attempted),
        failed=len(failed),
        failed_errors=dict(Counter(failed.values())),
        sent=len(sent),
        acknowledged=len(acknowledged),
        unacknowledged=_labels(sent.keys() - acked),
        received=len(attempted & received.keys()),
        lost=_labels(k for k in acknowledged if received[k] == 0),
        duplicated=_labels(k for k, n in received.items() if n > 1),
        unexpected=_labels(k for k in received if k not in attempted and k[1] not in known_server),
        reconnects=reconnects,
        latency_histogram=encode(latency) if latency.get_total_count() else None,
    )


def _labels(keys: Iterable[Key]) -> list[str]:
    return sorted(f"{client}/{message_id}" if client else message_id for client, message_id in keys)
