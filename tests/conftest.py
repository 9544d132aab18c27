"""Session-wide guard: the session fails if any process, temp dir or container it started remains."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from chaosgate.processes import wait_until

UpStarter = Callable[[Path, dict[str, str]], AbstractContextManager[subprocess.Popen[bytes]]]

pytest_plugins = ["pytester"]
# Proxies (and chaosgate's own toxiproxy-server) kept between runs would outlive the session:
# the suite runs one-run stacks unless a test asks for kept proxies (fixtures.external_proxies).
os.environ.setdefault("CHAOSGATE_KEEP_PROXIES", "0")
# Remembered listen ports (fixtures.listen_ports) live in the user's state directory: the
# session's runs remember theirs in a directory of their own, removed at the end, so the suite
# never writes into the home of whoever runs it (children inherit the variable).
_STATE_HOME = tempfile.mkdtemp(prefix="chaosgate-test-state-")
os.environ["XDG_STATE_HOME"] = _STATE_HOME


@pytest.hookimpl(trylast=True)  # after the runner tore down session fixtures
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from fixtures.leftovers import find_leftovers

    shutil.rmtree(_STATE_HOME, ignore_errors=True)
    found = find_leftovers()
    if not found:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["leftovers after the session (each one is a teardown bug):", *found]
    if reporter is not None:
        reporter.write_sep("=", "LEFTOVERS", red=True)
        for line in lines:
            reporter.write_line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@contextmanager
def _running_up(where: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`chaosgate up --stack local` as a child in `where` (stderr in where/up.err), until ready;
    stopped by PID at the end. `env` must set CHAOSGATE_STATE_DIR (ready = its up.json)."""
    state = Path(env["CHAOSGATE_STATE_DIR"]) / "up.json"
    with (where / "up.err").open("wb") as err_file:
        harness = subprocess.Popen(
            [sys.executable, "-m", "chaosgate", "up", "--stack", "local"],
            cwd=where, env=env, stdout=subprocess.DEVNULL, stderr=err_file,
        )  # fmt: skip
    try:
        wait_until(state.exists, what="chaosgate up", timeout_s=120)
        yield harness
    finally:
        harness.terminate()
        harness.wait(timeout=60)


@pytest.fixture(scope="session")
def chaosgate_up() -> UpStarter:
    """Start `chaosgate up --stack local` as a child: `with chaosgate_up(where, env) as up:`."""
    return _running_up


@pytest.fixture(autouse=True)
def _no_default_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs made by tests are not remembered in the user's results store (reports.history);
    the history tests name their own stores."""
    monkeypatch.setenv("CHAOSGATE_HISTORY", "off")
