"""The event loop hands out the tickets (scenarios.load.dispatch): every ticket reaches a user,
in order, from the alarm's callback in the hub (no dispatcher greenlet); at the end every
waiting user is released; on a stop the queued tickets never start."""

from __future__ import annotations

import time

import gevent
import pytest
from gevent.hub import get_hub

from scenarios.load.dispatch import Dispatcher
from scenarios.load.engine import Engine, Ticket
from scenarios.load.plan import LoadPlan

pytestmark = pytest.mark.unit  # gevent in this process, no I/O but a timerfd: ~1 s


def _engine(rps: float, hold_s: float) -> Engine:
    plan = LoadPlan(users=["ping"], rate=[{"rps": rps, "hold_s": hold_s}], arrival="constant")
    now = time.time()
    return Engine(plan, now, now + 0.05, 0, 1)


def _user(dispatcher: Dispatcher, engine: Engine, got: list[tuple[Ticket, float]]) -> None:
    while (ticket := dispatcher.next("PingUser")) is not None:
        got.append((ticket, time.time()))
        assert gevent.getcurrent() is not get_hub()
        gevent.sleep(0.002)  # a request in flight: other users take the next tickets
        engine.finish(ticket)


def test_every_ticket_reaches_a_user_in_order_and_the_end_releases_them() -> None:
    engine = _engine(200, 0.5)
    dispatcher = Dispatcher({"http": [("PingUser", 1.0)]})
    got: list[tuple[Ticket, float]] = []
    users = [gevent.spawn(_user, dispatcher, engine, got) for _ in range(4)]
    gevent.sleep(0)  # every user waits for a ticket
    dispatcher.start(engine)
    assert gevent.joinall(users, timeout=5)
    assert all(u.dead for u in users)
    intended = [ticket.intended for ticket, _ in got]
    assert len(intended) == 100
    assert intended == sorted(intended)
    assert all(t.queued_at is None for t, _ in got)  # an idle user was always there
    # handed out when due: never before the send window (2 ms at most), never long after
    assert all(at - t.intended >= -0.0021 for t, at in got)
    assert engine.in_flight == set()


def test_a_stop_drops_the_queued_tickets_and_releases_every_user() -> None:
    engine = _engine(1000, 5)
    dispatcher = Dispatcher({"http": [("PingUser", 1.0)]})
    got: list[tuple[Ticket, float]] = []
    users = [gevent.spawn(_user, dispatcher, engine, got) for _ in range(2)]
    gevent.sleep(0)
    dispatcher.start(engine)
    gevent.sleep(0.3)  # 1000 rps on 2 users busy 2 ms each: a backlog builds
    assert dispatcher.handoffs["PingUser"].backlog
    engine.abort()
    dispatcher.stop()
    assert gevent.joinall(users, timeout=2)
    assert all(u.dead for u in users)
    assert not dispatcher.handoffs["PingUser"].backlog or all(
        t is None for t in dispatcher.handoffs["PingUser"].backlog
    )
    assert len(got) < 300  # the queued ones never started
