"""The pure parts of `chaosgate load`: what the view shows, the events and phases it records."""

from __future__ import annotations

import time

import pytest
from rich.console import Console

from chaosgate.errors import ToxiproxyError
from fixtures.stack import Address
from fixtures.toxiproxy import ProxyState, ToxicState, ToxiproxyAdapter
from reports.model import Event
from scenarios.live import FaultWatch, fault_phases
from scenarios.live_cli import build_plan
from scenarios.live_view import Snapshot, active_faults, endpoint_rows, render
from scenarios.load.collect import NameStats, SecondView

pytestmark = pytest.mark.unit


def _proxy(name: str, enabled: bool = True, *toxics: ToxicState) -> ProxyState:
    return ProxyState(name, Address("127.0.0.1", 1), Address("127.0.0.1", 2), enabled, toxics)


def test_active_faults_name_toxics_and_disabled_proxies() -> None:
    latency = ToxicState(
        "latency_downstream", "latency", "downstream", 1.0, {"latency": 100, "jitter": 10}
    )
    timeout = ToxicState("t", "timeout", "upstream", 0.5, {"timeout": 0})
    found = active_faults({"postgres": _proxy("postgres", True, latency), "redis": _proxy("redis", False, timeout),
                           "warehouse": _proxy("warehouse")})  # fmt: skip
    assert found == {
        "postgres/latency_downstream": "postgres: latency jitter=10 latency=100 (downstream)",
        "redis/down": "redis: down (proxy disabled)",
        "redis/t": "redis: timeout timeout=0 (upstream toxicity=0.5)",
    }


def test_rows_take_latency_from_the_freshest_second_and_fall_back_to_the_last_whole_one() -> None:
    whole = SecondView(
        4, {"GET /a": NameStats(20, 1, 5, 9, 12), "GET /b": NameStats(3, 0, 7, 8, 8)}
    )
    fresh = SecondView(5, {"GET /a": NameStats(6, 0, 300, 310, 320)})
    rows = {r.name: r for r in endpoint_rows(fresh, whole, [whole, fresh])}
    assert (rows["GET /a"].rate, rows["GET /a"].p50_ms, rows["GET /a"].errors) == (20, 300, 0)
    assert rows["GET /a"].p95_trend == (9, 310)
    assert rows["GET /b"].p95_ms == 8  # nothing back yet in second 5: second 4's figures
    assert rows["GET /b"].p95_trend == (8, 0.0)


def test_the_view_shows_latency_faults_and_state() -> None:
    rows = endpoint_rows(
        SecondView(5, {"GET /api/items": NameStats(6, 2, 301.5, 310, 320)}), None, []
    )
    snapshot = Snapshot(elapsed_s=12.0, target="http://t", second=5, endpoints=rows,
                        faults={"postgres/x": "postgres: latency latency=300 (downstream)"},
                        ready=False, breakers={"postgres": "open"})  # fmt: skip
    console = Console(width=150, record=True)
    console.print(render(snapshot))
    text = console.export_text()
    assert "301.5" in text
    assert "latency=300" in text
    assert "NOT READY" in text
    assert "postgres=open" in text


def test_phases_follow_the_injections_seen() -> None:
    def event(t: float, kind: str, key: str) -> Event:
        return Event(t_s=t, kind=kind, target=key.split("-")[0], attributes={"fault": key})

    events = [event(5, "fault.inject", "postgres-latency"), event(9, "fault.remove", "postgres-latency"),
              event(12, "fault.inject", "postgres-latency")]  # fmt: skip
    phases = [(p.name, p.start_s, p.end_s) for p in fault_phases(events, 20)]
    assert phases == [
        ("baseline", 0, 5),
        ("fault:postgres-latency", 5, 9),
        ("recovery:postgres-latency", 9, 12),
        ("fault:postgres-latency-2", 12, 20),  # still injected at the end
    ]
    assert [p.name for p in fault_phases([], 20)] == ["baseline"]


def test_the_plan_runs_until_ctrl_c_or_for_the_duration() -> None:
    endless = build_plan("api,dashboard", 50, None, "poisson", 1, None, 2)
    assert endless.duration_s >= 24 * 3600
    assert endless.slots >= 100
    timed = build_plan("api", 10, "90s", "constant", 1, 7, 2)
    assert (timed.duration_s, timed.slots, timed.websocket_clients) == (90, 7, 0)


class _Toxiproxy(ToxiproxyAdapter):
    """Answers with whatever proxies the test sets; `None` = unreachable."""

    def __init__(self) -> None:
        self.now: dict[str, ProxyState] | None = {"postgres": _proxy("postgres")}

    def proxies(self) -> dict[str, ProxyState]:
        if self.now is None:
            raise ToxiproxyError("connection refused")
        return self.now


def test_fault_watch_stamps_what_appeared_and_went_away_and_survives_an_unreadable_toxiproxy() -> (
    None
):
    toxiproxy = _Toxiproxy()
    watch = FaultWatch(toxiproxy, t0=time.time() - 10)
    assert watch.poll() == {}
    toxiproxy.now = {"postgres": _proxy("postgres", False)}
    watch.poll()
    toxiproxy.now = None  # a hiccup: no event, the last known faults kept
    assert watch.poll() is None
    assert watch.error is not None
    assert watch.current == {"postgres/down": "postgres: down (proxy disabled)"}
    toxiproxy.now = {"postgres": _proxy("postgres")}
    assert watch.poll() == {}
    assert [(e.kind, e.target, e.attributes["fault"]) for e in watch.events] == [
        ("fault.inject", "postgres", "postgres-down"),
        ("fault.remove", "postgres", "postgres-down"),
    ]
    assert 10 <= watch.events[0].t_s <= watch.events[1].t_s < 20


def test_a_long_run_shows_its_clock_and_what_is_left() -> None:
    from scenarios.live_view import EndpointRow, plain
    from scenarios.load.progress import describe

    rows = [EndpointRow("GET /x", 300.0, 1.0, 4.2, 9.0, 2, 300)]
    timed = Snapshot(elapsed_s=725.0, target="http://t", second=724, endpoints=rows,
                     faults=None, planned_s=1800.0)  # fmt: skip
    assert "12:05 / 30:00, 17:55 left" in plain(timed)
    assert "300 req/s  p95 4.2 ms  errors 2" in plain(timed)
    endless = Snapshot(elapsed_s=3725.0, target="http://t", second=1, endpoints=rows, faults=None)
    assert "load 1:02:05  300 req/s" in plain(endless)
    assert describe(725.0, 1800.0, None).startswith("load 12:05 / 30:00, 17:55 left")
    assert describe(5.0, 60.0, None).startswith("load   5.0/60s")  # a short run: as it was
