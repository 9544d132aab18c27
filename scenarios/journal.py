"""The journal: what happened when, on the scenario's clock (seconds from t0). Thread-safe,
because faults (flapping) and probes note events from their own threads."""

from __future__ import annotations

import threading
import time
from typing import Any

from reports.model import AttributeValue, Event


def _plain(value: Any) -> AttributeValue:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


class Journal:
    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def now_s(self) -> float:
        return time.time() - self.t0

    def add(self, kind: str, target: str = "", message: str = "", **attributes: Any) -> Event:
        event = Event(
            t_s=round(self.now_s(), 3),
            kind=kind,
            target=target,
            message=message,
            attributes={k: _plain(v) for k, v in attributes.items()},
        )
        with self._lock:
            self._events.append(event)
        return event

    def sink(self, target: str) -> Any:
        """A `fixtures.faults.base.Note` that journals under `target`."""

        def note(kind: str, message: str, attributes: dict[str, Any]) -> None:
            self.add(kind, target, message, **attributes)

        return note

    def first(self, kind: str, target: str) -> Event | None:
        with self._lock:
            return next((e for e in self._events if e.kind == kind and e.target == target), None)

    def events(self) -> list[Event]:
        with self._lock:
            return sorted(self._events, key=lambda e: e.t_s)
