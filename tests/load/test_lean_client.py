"""The pooled keep-alive socket check (scenarios.users.lean_client): the same verdicts as
geventhttpclient's select() check, without its hub switch, and right for descriptors above
1024 (where the old check called every live socket dead: a new connection per request)."""

from __future__ import annotations

import os
import resource
import socket

import gevent.socket
import pytest
from geventhttpclient.connectionpool import ConnectionPool

from scenarios.users.lean_client import LIBRARY_CHECK, socket_alive

pytestmark = pytest.mark.unit  # real sockets, no process: fast


def _pair() -> tuple[gevent.socket.socket, gevent.socket.socket]:
    a, b = socket.socketpair()
    return gevent.socket.socket(fileno=a.detach()), gevent.socket.socket(fileno=b.detach())


def test_an_idle_socket_is_alive_a_closed_or_dirty_one_is_not() -> None:
    pool = ConnectionPool.__new__(ConnectionPool)
    ours, peer = _pair()
    assert socket_alive(pool, ours)
    peer.sendall(b"x")  # a stray byte on an idle keep-alive socket: not reusable
    assert not socket_alive(pool, ours)
    ours.recv(1)
    peer.close()  # the server closed it (FIN)
    assert not socket_alive(pool, ours)
    ours.close()
    assert not socket_alive(pool, ours)
    assert not socket_alive(pool, None)


def test_a_live_socket_above_descriptor_1024_is_alive() -> None:
    """Fails with geventhttpclient's own check (select() cannot take the descriptor)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"open-files limit {hard} < 1200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    ours, peer = _pair()
    high = os.dup2(ours.fileno(), 1100)
    try:
        sock = gevent.socket.socket(fileno=high)
        pool = ConnectionPool.__new__(ConnectionPool)
        assert socket_alive(pool, sock)
        assert not LIBRARY_CHECK(pool, sock)  # the library's own: "dead"
        sock.detach()
    finally:
        os.close(high)
        ours.close()
        peer.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
