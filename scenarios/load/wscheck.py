"""The WebSocket history checker (in the spirit of Jepsen's queue checker). Pure function.

A history is a list of events `{"kind": "sent"|"acked"|"received"|"reconnect", "client",
"id", "t"}` (t: Unix time). Per C3: an acknowledged message must be received at least once
(else lost); receiving one id twice is a duplicate (allowed by the protocol, but reported);
a received id this client never sent (and not server-originated) is unexpected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from reports.hdr import encode, new_histogram
from reports.model import WebSocketSummary
from scenarios.load.recorder import clamp_us


def check_history(
    events: Iterable[Mapping[str, Any]], *, server_ids: Iterable[str] = ()
) -> WebSocketSummary:
    sent: dict[tuple[str, str], float] = {}
    acked: set[tuple[str, str]] = set()
    received: Counter[tuple[str, str]] = Counter()
    first_received: dict[tuple[str, str], float] = {}
    reconnects = 0
    for event in sorted(events, key=lambda e: float(e["t"])):
        key = (str(event.get("client", "")), str(event.get("id", "")))
        kind = event["kind"]
        if kind == "sent":
            sent.setdefault(key, float(event["t"]))
        elif kind == "acked":
            acked.add(key)
        elif kind == "received":
            received[key] += 1
            first_received.setdefault(key, float(event["t"]))
        elif kind == "reconnect":
            reconnects += 1
    known_server = set(server_ids)
    latency = new_histogram()
    for key, t_sent in sent.items():
        if key in first_received:
            latency.record_value(clamp_us(first_received[key] - t_sent))
    return WebSocketSummary(
        sent=len(sent),
        acknowledged=len(acked & sent.keys()),
        received=len(received),
        lost=sorted(_label(k) for k in acked if received[k] == 0),
        duplicated=sorted(_label(k) for k, n in received.items() if n > 1),
        unexpected=sorted(
            _label(k) for k in received if k not in sent and k[1] not in known_server
        ),
        reconnects=reconnects,
        latency_histogram=encode(latency) if latency.get_total_count() else None,
    )


def _label(key: tuple[str, str]) -> str:
    client, message_id = key
    return f"{client}/{message_id}" if client else message_id
