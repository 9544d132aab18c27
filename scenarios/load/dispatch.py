"""Hands tickets to users at their intended time, precisely (worker process only: gevent).

Tickets are handed out from the event loop itself: one alarm per ticket kind (a Linux timerfd
watched by gevent's loop at the highest priority) fires in the hub at the next intended send,
and its callback hands every ticket due by then straight to an idle user (a switch into that
user's greenlet). No dispatcher greenlet competes with the user greenlets for the loop: with
one, the schedule held only up to ~70 % of a core (then lag jumped to 150-250 ms). If no user is
free the ticket waits in the backlog (stamped `queued_at`), starts late, and the run counts it
as slot-starved: the SUT's latency, not the generator's fault, unless the alarm itself was
late or the worker's CPU saturated. A timerfd because libev's own timers go through epoll's
timeout, rounded up to whole milliseconds (measured here: p50 overshoot 0.8 ms vs 0.08 ms).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from gevent.hub import Waiter, get_hub
from gevent.lock import BoundedSemaphore

from scenarios.load.engine import Engine, Ticket

_CLOCK_REALTIME, _TFD_NONBLOCK, _TFD_CLOEXEC, _TFD_TIMER_ABSTIME = 0, 0o4000, 0o2000000, 1
_MAXPRI = 2  # libev's EV_MAXPRI: the alarm runs before the I/O watchers of the same loop turn


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class Alarm:
    """Calls `callback` in the hub once `arm(unix_time)`'s time has come, with sub-millisecond
    precision (a timerfd; without one, a libev timer)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._libc: ctypes.CDLL | None = None
        self._fd = -1
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            fd = libc.timerfd_create(_CLOCK_REALTIME, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                self._libc, self._fd = libc, fd
        self._loop = get_hub().loop
        self._spec = _Itimerspec()
        self._watcher: Any = None
        self._timer: Any = None
        if self._fd >= 0:
            # one watcher for the fd's lifetime, started once: re-arming is one syscall
            self._watcher = self._loop.io(self._fd, 1, priority=_MAXPRI)
            self._watcher.start(self._fire)

    def arm(self, when: float) -> None:
        if self._libc is None:
            if self._timer is not None:
                self._timer.close()
            self._timer = self._loop.timer(max(0.0, when - time.time()), priority=_MAXPRI)
            self._timer.start(self._callback)
            return
        seconds = int(when)
        self._spec.it_value.tv_sec = seconds
        self._spec.it_value.tv_nsec = max(int((when - seconds) * 1e9), 1)  # 0 would disarm
        self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None)

    def _fire(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)
        self._callback()

    def close(self) -> None:
        for watcher in (self._watcher, self._timer):
            if watcher is not None:
                watcher.close()
        self._watcher = self._timer = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class SendWindow:
    """How early a send may go out together with the one due now; its latency then counts from
    its real start, so an early send never hides a stall. A timer wake costs about as much CPU
    as a send (the generator blocks and wakes cold), so at high rates one wake serves several
    sends, as a closed loop's many in-flight requests share one. The window is rate / 2000 ms
    between 0.2 and 2 ms: 0.5 ms at 1000 rps, 2 ms from 4000 rps (measured with `chaosgate
    bench`: max rate per worker 5000-6000 -> 6000-7000 rps; p50 at 1000 rps +0.05 ms)."""

    MIN_S, MAX_S, PER_RPS_S = 0.0002, 0.002, 0.0000005

    def __init__(self) -> None:
        self.gap_s = 0.01  # running mean gap between intended sends (EWMA over ~100 sends)
        self.last: float | None = None

    def after(self, when: float) -> float:
        """The window for a send intended at `when` (called once per send, in order)."""
        if self.last is not None:
            self.gap_s += (when - self.last - self.gap_s) * 0.01
        self.last = when
        rate = 1 / max(self.gap_s, 1e-6)
        return min(max(rate * self.PER_RPS_S, self.MIN_S), self.MAX_S)


class Handoff:
    """Tickets to idle users, the most recently idle first (LIFO): a few hot users and their
    warm keep-alive connections carry the load, instead of a round robin over every user
    (a FIFO queue) that keeps hundreds of sockets and greenlets cold. Tickets nobody is free
    for wait in the backlog, in order, and start late."""

    def __init__(self) -> None:
        self._hub = get_hub()
        self.idle: list[Waiter[Ticket | None]] = []
        self.backlog: deque[Ticket | None] = deque()

    def put(self, ticket: Ticket | None) -> None:
        """Called in the hub (the alarm's callback): an idle user runs its task at once, up to
        its first wait on I/O, then the hub carries on here."""
        if self.idle and not self.backlog:
            self.idle.pop().switch(ticket)
        else:
            if ticket is not None:
                ticket.queued_at = time.time()  # no user free: it waits on the SUT's slowness
            self.backlog.append(ticket)

    def get(self) -> Ticket | None:
        if self.backlog:
            ticket = self.backlog.popleft()
            if ticket is None:
                self.backlog.appendleft(None)  # the end stays for every other user
            return ticket
        waiter: Waiter[Ticket | None] = Waiter()
        self.idle.append(waiter)
        try:
            handed: Ticket | None = waiter.get()
            return handed
        finally:
            if waiter in self.idle:  # killed while idle
                self.idle.remove(waiter)

    def end(self, drop: bool = False) -> None:
        """No more tickets; `drop`: the queued ones never start either (stop, abort)."""
        if drop:
            self.backlog.clear()
        self.backlog.append(None)
        while self.idle:
            self._hub.loop.run_callback(self.idle.pop().switch, None)


class Dispatcher:
    """Users wait on it from the moment they spawn; `start(engine)` begins the schedule once
    every user is there (spawning 1000 users takes Locust about a second).

    Each ticket is drawn for one user class by weight (seeded), so the request mix follows the
    weights whichever users happen to be free; within a class the most recently idle user
    takes it."""

    def __init__(
        self, classes: dict[str, list[tuple[str, float]]], seed: int = 0, setup_concurrency: int = 8
    ) -> None:
        """classes: ticket kind -> [(user class name, weight)]; `setup_concurrency`: users'
        set-up calls in flight at once (TicketedUser.set_up)."""
        self.classes = classes
        self.handoffs = {name: Handoff() for pairs in classes.values() for name, _ in pairs}
        self.rng = random.Random(seed)
        self.feeds: list[_Feed] = []
        self.ready = 0  # users whose set-up is done, waiting for their first ticket
        self.setup_slots = BoundedSemaphore(setup_concurrency)
        self.setup: dict[str, dict[str, Any]] = {}  # user class -> its set-up tally

    def setup_tally(self, user_class: str) -> dict[str, Any]:
        return self.setup.setdefault(
            user_class, {"users": 0, "attempts": 0, "refused": 0, "failed": 0, "errors": {}}
        )

    def setup_record(self) -> dict[str, Any]:
        """The set-up tally as one record for the parent (sent once, before the schedule)."""
        return {"type": "setup", "classes": self.setup}

    def start(self, engine: Engine, present: set[str] | None = None) -> None:
        """Begin; tickets go only to classes with users in this process (`present`)."""
        self.engine = engine
        if present is not None:
            self.classes = {
                kind: [pair for pair in pairs if pair[0] in present] or pairs
                for kind, pairs in self.classes.items()
            }
        self.feeds = [_Feed(self, kind) for kind in self.classes]
        for feed in self.feeds:
            feed.alarm.arm(time.time())  # the first fire arms the alarm for the first send

    def next(self, user_class: str) -> Ticket | None:
        """The next due ticket for this user class (blocks until there is one), or None at the end."""
        return self.handoffs[user_class].get()

    def stop(self) -> None:
        """Hand out nothing more, queued tickets included."""
        for feed in self.feeds:
            feed.close()
        for handoff in self.handoffs.values():
            handoff.end(drop=True)


class _Feed:
    """One ticket kind's schedule, run by its alarm in the hub: each fire hands out every
    ticket due by now (plus the send window), then re-arms for the next one."""

    def __init__(self, dispatcher: Dispatcher, kind: str) -> None:
        self.dispatcher = dispatcher
        self.engine = dispatcher.engine
        self.kind = kind
        self.names = [name for name, _ in dispatcher.classes[kind]]
        self.weights = [weight for _, weight in dispatcher.classes[kind]]
        self.window = SendWindow()
        self.next_when: float | None = None  # the next intended send, its window drawn
        self.slack = 0.0
        self.alarm = Alarm(self.fire)
        self.closed = False

    def fire(self) -> None:
        if self.closed:
            return
        engine, handoffs, now = self.engine, self.dispatcher.handoffs, time.time()
        try:
            while True:
                if self.next_when is None:
                    when = engine.next_due(self.kind)
                    if when is None:
                        break
                    self.next_when, self.slack = when, self.window.after(when)
                if self.next_when > now + self.slack:
                    now = time.time()  # handing out took time: look again before sleeping
                    if self.next_when > now + self.slack:
                        self.alarm.arm(self.next_when)
                        return
                ticket = engine.take(self.kind)
                self.next_when = None
                if ticket is None:
                    break
                names = self.names
                name = (
                    names[0]
                    if len(names) == 1
                    else self.dispatcher.rng.choices(names, self.weights)[0]
                )
                ticket.user_class = name
                handoffs[name].put(ticket)
        except BaseException:
            self.close()  # the hub prints the error; users are released, not left waiting
            raise
        self.close()

    def close(self) -> None:
        """The schedule is over (or stopped): release the users waiting for this kind."""
        if self.closed:
            return
        self.closed = True
        self.alarm.close()
        for name in self.names:  # aborted: queued tickets stay unsent (the engine counts them)
            self.dispatcher.handoffs[name].end(drop=self.engine.aborted)
