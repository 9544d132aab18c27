"""`python -m sut`: bad config → exit 2 with one clear line; SIGTERM → graceful exit 0 in time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from chaosgate.processes import ManagedProcess, free_port, wait_until
from sut.config import SutSettings, load_sut_settings


def SECTIONS_AT_DEFAULTS(*written: str) -> str:
    """`section: {}` for every SUT config section not in `written` (a file naming no section
    at all reads as a truncated copy)."""
    return "".join(f"{name}: {{}}\n" for name in SutSettings.model_fields if name not in written)


def whole(text: str) -> str:
    """`text` with every section it does not write kept at its defaults."""
    import yaml

    return text + SECTIONS_AT_DEFAULTS(*(yaml.safe_load(text) or {}))


ConfigFactory = Callable[..., Path]
REPO = Path(__file__).parents[2]


def run_sut(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sut", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres: {port: 70000}\n", "postgres.port: expected a port number 1-65535, got 70000"),
        ("redis: {socket_timeout_s: 1}\nbogus: 1\n", ":2: bogus: unknown key"),
        ("health: {interval_s: often}\n", "health.interval_s: expected a valid number"),
        (None, "config file not found"),
    ],
    ids=["port-out-of-range", "unknown-key", "wrong-type", "missing-file"],
)
def test_bad_config_exits_2_with_one_clear_line(
    tmp_path: Path, text: str | None, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    if text is not None:
        path.write_text(text)
    done = run_sut("--config", str(path), "--role", "backend")
    assert done.returncode == 2
    assert expected in done.stderr
    assert str(path) in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.unit
def test_unknown_replica_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(whole("cache: {enabled: false}\n"))
    done = run_sut("--config", str(path), "--role", "ai_memory", "--replica", "ai_memory-9")
    assert done.returncode == 2
    assert "ai_memory-9" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.integration
def test_backend_stops_gracefully_on_sigterm_within_its_timeout(
    sut_config_factory: ConfigFactory, sut_workdir: Path
) -> None:
    config = sut_config_factory()
    settings = load_sut_settings(config)
    base = f"http://{settings.service.host}:{settings.service.port}"
    argv = [sys.executable, "-m", "sut", "--config", str(config), "--role", "backend"]
    backend = ManagedProcess("backend", argv, sut_workdir / "backend.log", cwd=REPO).start()
    try:
        wait_until(
            lambda: httpx.get(f"{base}/api/ready", timeout=2).status_code == 200,
            what="backend ready",
            timeout_s=60,
            transient=(httpx.HTTPError,),
            on_timeout=backend.log_tail,
        )
        assert backend.popen is not None
        start = time.monotonic()
        backend.popen.send_signal(signal.SIGTERM)
        code = backend.popen.wait(timeout=settings.service.shutdown_timeout_s + 5)
        elapsed = time.monotonic() - start
    finally:
        backend.stop(5)
    assert code == 0, backend.log_tail()
    assert elapsed <= settings.service.shutdown_timeout_s
    assert "Traceback" not in backend.log_tail(200)


@pytest.mark.integration
def test_supervisor_runs_all_four_and_stops_them_on_sigterm(
    sut_config_factory: ConfigFactory, sut_workdir: Path
) -> None:
    config = sut_config_factory()
    settings = load_sut_settings(config)
    backend = f"http://{settings.service.host}:{settings.service.port}"
    gateway = f"http://{settings.mcp.gateway.host}:{settings.mcp.gateway.port}"
    argv = [sys.executable, "-m", "sut", "--config", str(config)]
    supervisor = ManagedProcess("sut", argv, sut_workdir / "sut.log", cwd=REPO).start()
    try:
        wait_until(
            lambda: (
                httpx.get(f"{gateway}/health", timeout=2).json()["status"] == "healthy"
                and httpx.get(f"{backend}/api/ready", timeout=2).status_code == 200
            ),
            what="all SUT processes",
            timeout_s=90,
            transient=(httpx.HTTPError, ValueError, KeyError),
            on_timeout=supervisor.log_tail,
        )
        stored = httpx.post(f"{backend}/api/memories", json={"key": "k", "content": "c"}, timeout=5)
        assert stored.status_code == 201, stored.text  # backend → gateway → replica → Postgres
        assert supervisor.popen is not None
        children = _children(supervisor.popen.pid)
        assert len(children) == 4
        supervisor.popen.send_signal(signal.SIGTERM)
        code = supervisor.popen.wait(timeout=2 * settings.service.shutdown_timeout_s + 5)
    finally:
        supervisor.stop(5)
    assert code == 0, supervisor.log_tail()
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


@pytest.mark.integration
def test_backend_starts_and_reports_not_ready_while_every_dependency_is_down(
    sut_workdir: Path,
) -> None:
    port = free_port()
    config = sut_workdir / "down.yaml"
    config.write_text(
        f"service: {{port: {port}}}\n"
        f"postgres: {{port: {free_port()}, connect_timeout_s: 1}}\n"
        f"redis: {{port: {free_port()}}}\n"
        f"warehouse: {{port: {free_port()}, network_timeout_s: 1}}\n"
        f"mcp: {{gateway_url: 'http://127.0.0.1:{free_port()}'}}\n"
        + SECTIONS_AT_DEFAULTS("service", "postgres", "redis", "warehouse", "mcp")
    )
    argv = [sys.executable, "-m", "sut", "--config", str(config), "--role", "backend"]
    backend = ManagedProcess("backend", argv, sut_workdir / "backend.log", cwd=REPO).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(f"{base}/api/health", timeout=2).status_code == 200,
            what="backend live",
            timeout_s=60,
            transient=(httpx.HTTPError,),
            on_timeout=backend.log_tail,
        )
        ready = httpx.get(f"{base}/api/ready", timeout=5)
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert not any(check["ok"] for check in checks.values())
        items = httpx.get(f"{base}/api/items", timeout=10)
        assert items.status_code in (503, 504)
        assert items.headers["content-type"] == "application/problem+json"
    finally:
        backend.stop(10)


@pytest.mark.integration
def test_ctrl_c_on_the_supervisor_stops_all_four_without_a_traceback(tmp_path: Path) -> None:
    """A terminal's Ctrl-C signals the whole process group. Old code: the children took that
    SIGINT and the supervisor's SIGTERM as two signals, skipped the drain and logged a
    CancelledError traceback."""
    ports = [free_port() for _ in range(7)]
    config = tmp_path / "sut.yaml"
    config.write_text(
        f"service: {{port: {ports[0]}}}\npostgres: {{port: {ports[1]}}}\n"
        f"redis: {{port: {ports[2]}}}\nwarehouse: {{port: {ports[3]}}}\n"
        f"mcp:\n  gateway_url: http://127.0.0.1:{ports[4]}\n  gateway: {{port: {ports[4]}}}\n"
        "  replicas:\n"
        + "".join(
            f"    - {{name: r{i}, listen_port: {p}, url: 'http://127.0.0.1:{p}/mcp'}}\n"
            for i, p in enumerate(ports[5:])
        )
        + SECTIONS_AT_DEFAULTS("service", "postgres", "redis", "warehouse", "mcp")
    )
    log = tmp_path / "sut.log"
    with log.open("wb") as sink:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "sut", "--config", str(config)],
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, as a shell gives a foreground job
        )
    try:
        wait_until(
            lambda: all(  # any answer: the dependencies are down on purpose
                httpx.get(url, timeout=2).status_code > 0
                for url in (
                    f"http://127.0.0.1:{ports[0]}/api/health",
                    f"http://127.0.0.1:{ports[4]}/health",
                )
            ),
            what="the backend and gateway answering",
            timeout_s=90,
            transient=(httpx.HTTPError,),
        )
        children = _children(supervisor.pid)
        assert len(children) == 4
        os.killpg(supervisor.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        code = supervisor.wait(timeout=30)
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait()
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)
