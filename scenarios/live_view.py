"""What `chaosgate load` shows, as plain data, and its rendering (rich). No I/O here.

A `Snapshot` is built once per refresh from the load collector's per-second views, the
Toxiproxy proxies and the SUT's latest probe samples; `render` turns it into a rich table,
`plain` into one line for a log (no terminal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from fixtures.toxiproxy import ProxyState
from scenarios.load.collect import SecondView
from scenarios.load.progress import clock

BREAKER_STATES = {0.0: "closed", 1.0: "half-open", 2.0: "open"}
SPARK = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class EndpointRow:
    name: str
    rate: float  # requests in the last complete second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    count: int
    p95_trend: tuple[float, ...] = ()  # one value per second, oldest first


@dataclass(frozen=True)
class Snapshot:
    elapsed_s: float
    target: str
    second: int | None  # the scenario second the latency columns describe
    endpoints: list[EndpointRow]
    faults: dict[str, str] | None  # key -> description; None: no Toxiproxy to read
    ready: bool | None = None  # None: not exposed (or, when `probed`, no answer read yet)
    probed: bool = False  # the service's /api/ready and /metrics are being read
    breakers: dict[str, str] = field(default_factory=dict)
    note: str = ""
    planned_s: float | None = None  # the load's duration; None: until Ctrl-C


def elapsed(snapshot: Snapshot) -> str:
    """`12:05` or, with a planned duration, `12:05 / 30:00, 17:55 left`."""
    if snapshot.planned_s is None:
        return clock(snapshot.elapsed_s)
    left = max(0.0, snapshot.planned_s - snapshot.elapsed_s)
    return f"{clock(snapshot.elapsed_s)} / {clock(snapshot.planned_s)}, {clock(left)} left"


def active_faults(proxies: dict[str, ProxyState]) -> dict[str, str]:
    """What is broken right now: `proxy/toxic` (or `proxy/down`) -> a short description."""
    found: dict[str, str] = {}
    for name, proxy in sorted(proxies.items()):
        if not proxy.enabled:
            found[f"{name}/down"] = f"{name}: down (proxy disabled)"
        for toxic in proxy.toxics:
            attributes = " ".join(f"{k}={v:g}" for k, v in sorted(toxic.attributes.items()))
            toxicity = "" if toxic.toxicity >= 1 else f" toxicity={toxic.toxicity:g}"
            found[f"{name}/{toxic.name}"] = (
                f"{name}: {toxic.type} {attributes} ({toxic.stream}{toxicity})".replace("  ", " ")
            )
    return found


def endpoint_rows(
    latest: SecondView | None, complete: SecondView | None, trend: list[SecondView]
) -> list[EndpointRow]:
    """Latency and errors from `latest` (the freshest second, possibly still filling), the
    rate from `complete` (the last whole second), a p95 trend over `trend` (oldest first)."""
    names = sorted({*(latest.names if latest else {}), *(complete.names if complete else {})})
    rows = []
    for name in names:
        whole = complete.names.get(name) if complete else None
        # a name with no answer yet in the freshest second shows the last whole second's
        now = (latest.names.get(name) if latest else None) or whole
        rows.append(
            EndpointRow(
                name=name,
                rate=float(whole.count) if whole else 0.0,
                p50_ms=now.p50_ms if now else 0.0,
                p95_ms=now.p95_ms if now else 0.0,
                p99_ms=now.p99_ms if now else 0.0,
                errors=now.errors if now else 0,
                count=now.count if now else 0,
                p95_trend=tuple(v.names[name].p95_ms if name in v.names else 0.0 for v in trend),
            )
        )
    return rows


def spark(values: tuple[float, ...]) -> str:
    """A log-scale sparkline (1 ms .. 1 s and above), so 5 ms and 500 ms both read."""

    out = []
    for value in values:
        level = 0 if value <= 1 else min(math.log10(value) / 3, 1.0)  # log10(1 s in ms) = 3
        out.append(SPARK[round(level * (len(SPARK) - 1))])
    return "".join(out)


def render(snapshot: Snapshot) -> RenderableType:
    head = Text(
        f"chaosgate load → {snapshot.target}   {elapsed(snapshot)}"
        + (f"   second {snapshot.second}" if snapshot.second is not None else "   (warming up)"),
        style="bold",
    )
    table = Table(expand=False, title_justify="left")
    for column, justify in (("endpoint", "left"), ("req/s", "right"), ("p50 ms", "right"),
                            ("p95 ms", "right"), ("p99 ms", "right"), ("errors", "right"),
                            ("p95 last 10 s", "left")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in snapshot.endpoints:
        errors = f"[red]{row.errors}[/]" if row.errors else "0"
        table.add_row(row.name, f"{row.rate:.0f}", f"{row.p50_ms:.1f}", f"{row.p95_ms:.1f}",
                      f"{row.p99_ms:.1f}", errors, spark(row.p95_trend))  # fmt: skip
    parts: list[RenderableType] = [head, table, Text(_faults_line(snapshot))]
    parts.append(Text(_state_line(snapshot)))
    if snapshot.note:
        parts.append(Text(snapshot.note, style="yellow"))
    parts.append(Text("Ctrl-C stops and writes result.json", style="dim"))
    return Group(*parts)


def _faults_line(snapshot: Snapshot) -> str:
    if snapshot.faults is None:
        return "faults: (no Toxiproxy known: start `chaosgate up` or pass --toxiproxy)"
    if not snapshot.faults:
        return "faults: none"
    return "faults: " + "; ".join(snapshot.faults.values())


def _state_line(snapshot: Snapshot) -> str:
    unknown = "waiting for the first probe" if snapshot.probed else "not exposed"
    ready = {None: unknown, True: "ready", False: "NOT READY"}[snapshot.ready]
    breakers = " ".join(f"{dep}={state}" for dep, state in sorted(snapshot.breakers.items()))
    return f"readiness: {ready}   breakers: {breakers or '—'}"


def plain(snapshot: Snapshot) -> str:
    """One log line (no terminal): the worst endpoint's p95, errors, faults."""
    rate = sum(r.rate for r in snapshot.endpoints)
    errors = sum(r.errors for r in snapshot.endpoints)
    p95 = max((r.p95_ms for r in snapshot.endpoints), default=0.0)
    faults = _faults_line(snapshot).removeprefix("faults: ")
    return (
        f"load {elapsed(snapshot)}  {rate:.0f} req/s  p95 {p95:.1f} ms  errors {errors}"
        f"  faults: {faults}  {_state_line(snapshot)}"
    )
