"""`python -m sut --config F` on a malformed file: exit 2 naming the key, before any process
starts; never a traceback, never a hang (issue 16)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
LIMIT_S = 15  # import + validate takes ~1 s; a variant that starts the SUT would run forever

REPLICAS = (
    "mcp:\n  replicas:\n"
    "    - {name: a, listen_port: 9001, url: 'http://127.0.0.1:9001/mcp'}\n"
    "    - {name: %s, listen_port: %s, url: '%s'}\n"
)
# (id, file bytes, fragment the message must contain)
VARIANTS: list[tuple[str, bytes, str]] = [
    (
        "pg-pool-min-over-max",
        b"postgres:\n  pool: {min_size: 12, max_size: 10}\n",
        ":2: postgres.pool.min_size: expected at most max_size (10), got 12",
    ),
    (
        "pg-pool-max-below-default-min",
        b"postgres:\n  pool: {max_size: 4}\n",
        "postgres.pool.min_size: expected at most max_size (4)",
    ),
    (
        "warehouse-pool-min-over-max",
        b"warehouse:\n  pool: {min_size: 5, max_size: 4}\n",
        "warehouse.pool.min_size",
    ),
    (
        "duplicate-replica-name",
        (REPLICAS % ("a", 9002, "http://127.0.0.1:9002/mcp")).encode(),
        ":4: mcp.replicas.1.name: expected a name no other replica has",
    ),
    (
        "duplicate-replica-port",
        (REPLICAS % ("b", 9001, "http://127.0.0.1:9001/mcp")).encode(),
        "mcp.replicas.1.listen_port: expected a port no other SUT process listens on",
    ),
    (
        "gateway-on-service-port",
        b"mcp:\n  gateway: {port: 8000}\n",
        ":2: mcp.gateway.port: expected a port no other SUT process listens on, got 8000",
    ),
    (
        "gateway-url-is-the-service",
        b"mcp: {gateway_url: 'http://127.0.0.1:8000'}\n",
        "mcp.gateway_url: expected an address other than service.port",
    ),
    (
        "postgres-at-the-service-address",
        b"postgres: {port: 8000}\n",
        "postgres.port: expected the dependency's address",
    ),
    ("bad-ipv4-host", b"service: {host: 999.1.1.1}\n", "service.host: expected an IP address"),
    ("bad-host-name", b"redis: {host: 'a b'}\n", "redis.host: expected an IP address"),
    ("no-replicas", b"mcp: {replicas: []}\n", "mcp.replicas: expected at least 1 item"),
    ("gateway-url-not-url", b"mcp: {gateway_url: nowhere}\n", "mcp.gateway_url: expected an"),
    (
        "replica-url-bad-host",
        (REPLICAS % ("b", 9002, "http://999.1.1.1:9002/mcp")).encode(),
        "mcp.replicas.1.url: expected an http(s)://host:port URL",
    ),
    ("empty-file", b"", "the file is empty"),
    ("only-comments", b"# nothing here\n", "the file is empty"),
    ("latin1-comment", b"# caf\xe9 config\nservice: {port: 8000}\n", ":1: not UTF-8 text"),
    ("infinite-timeout", b"service: {shutdown_timeout_s: .inf}\n", "service.shutdown_timeout_s"),
    ("huge-timeout", b"postgres: {statement_timeout_s: 1e300}\n", "postgres.statement_timeout_s"),
    (
        "heartbeat-timeout-below-interval",
        b"websocket: {heartbeat_interval_s: 5, heartbeat_timeout_s: 2}\n",
        "websocket.heartbeat_timeout_s: expected more than heartbeat_interval_s",
    ),
    ("null-section", b"service:\n", "service: expected a valid dictionary"),
    ("top-level-list", b"- service\n", "expected a mapping of sections"),
    ("non-string-key", b"1: x\n", "expected a mapping of sections"),
    ("unknown-section", b"servce: {}\n", "servce: unknown key"),
]


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env = {k: v for k, v in env.items() if not k.startswith("SUT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sut", "--config", str(config)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so a hang (the SUT started) is killed with its children
    )
    try:
        out, err = process.communicate(timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"python -m sut did not exit within {LIMIT_S}s: it started on a bad config")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("content", "expected"), [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS]
)
def test_bad_sut_config_exits_2_naming_the_key(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    config = tmp_path / "sut.yaml"
    config.write_bytes(content)
    done = _run(config)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    assert str(config) in done.stderr
    assert expected in done.stderr, done.stderr


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["fifo", "directory", "dev-zero"])
def test_a_config_that_is_not_a_regular_file_exits_2(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        config = tmp_path / "sut.yaml"
        os.mkfifo(config)  # no writer: a plain open() would block forever
    elif kind == "directory":
        config = tmp_path
    else:
        config = Path("/dev/zero")  # endless: a plain read() would fill memory
    done = _run(config)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    assert str(config) in done.stderr
