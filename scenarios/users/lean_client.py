"""Two per-request costs of Locust's HTTP path taken out of the load worker (the only process
that imports this: it patches gevent-based libraries). Neither changes what a request does.

- geventhttpclient checks a pooled keep-alive socket before each reuse with `select()`. Under
  gevent's monkey-patching that `select` with a 0 timeout also yields to the hub (a `sleep(0)`:
  every send waited a whole loop turn behind the other greenlets), and a real `select()` fails
  for a descriptor above 1024, which the check read as a dead socket (a new connection per
  request with 1,000+ users). The same check, "readable while idle: closed or dirty", as one
  non-blocking `poll()`.
- Locust's TaskSet.wait sleeps after every task, `sleep(0)` for a wait time of 0: a ticketed
  user's wait already blocked until its ticket came (TicketedUser.wait_time), so that yield
  only puts its send a loop turn late (see `ticketed_sleep`, installed by scenarios.users.base).
"""

from __future__ import annotations

import select as _select_module
from typing import Any

from gevent.monkey import get_original
from geventhttpclient.connectionpool import ConnectionPool

_poll = get_original("select", "poll")
LIBRARY_CHECK = ConnectionPool._is_socket_alive  # geventhttpclient's own (tests compare)
_IDLE_SIGNS = _select_module.POLLIN | _select_module.POLLERR | _select_module.POLLHUP


def socket_alive(_pool: ConnectionPool, sock: Any) -> bool:
    """An idle keep-alive socket is alive if nothing is readable on it (no FIN, no stray
    bytes) and it has no error: one poll() with a 0 timeout, no hub switch."""
    if sock is None:
        return False
    try:
        fd = sock.fileno()
        if fd < 0:
            return False
        poller = _poll()
        poller.register(fd, _IDLE_SIGNS)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def install() -> None:
    ConnectionPool._is_socket_alive = socket_alive  # type: ignore[method-assign,assignment]
