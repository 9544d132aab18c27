"""`chaosgate inject` / `heal` against a real `chaosgate up --stack local`, as a person would type
them in another terminal: a toxic and process faults, each verified as in a scenario and healed
by the `up` process that owns the services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from fixtures.faults.verify import roundtrip
from fixtures.toxiproxy import ToxiproxyAdapter, parse_address

# tests/conftest.py's chaosgate_up fixture
UpStarter = Callable[[Path, dict[str, str]], AbstractContextManager[subprocess.Popen[bytes]]]

pytestmark = pytest.mark.integration


def _env(where: Path) -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "CHAOSGATE_STATE_DIR": str(where / "state"),
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}  # fmt: skip


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, chaosgate_up: UpStarter) -> Iterator[Path]:
    """`chaosgate up --stack local` as a child; yields its working directory."""
    where = tmp_path_factory.mktemp("up")
    with chaosgate_up(where, _env(where)):
        yield where
    assert "Traceback" not in (where / "up.err").read_text()


def chaosgate(where: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "chaosgate", *args], cwd=where, env=_env(where),
                          capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    print(done.stdout)
    return done.stdout


def state(where: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((where / "state" / "up.json").read_text())
    return loaded


def test_latency_on_postgres_is_verified_on_the_sut_s_path_and_healed(up: Path) -> None:
    listen = parse_address(state(up)["proxies"]["postgres"]["listen"])
    out = chaosgate(up, "inject", "postgres", "latency", "latency_ms=300")
    # the scenario's verification: the SUT's own readiness check of postgres slowed by it
    assert "fault.verified" in out
    assert "SUT readiness check of postgres took" in out
    assert roundtrip(listen, "postgres", 2.0).seconds >= 0.27
    out = chaosgate(up, "heal", "postgres")
    assert "fault.remove: latency on postgres" in out
    assert roundtrip(listen, "postgres", 2.0).seconds < 0.1
    toxiproxy = ToxiproxyAdapter(str(state(up)["toxiproxy_url"]), 5.0)
    try:
        assert toxiproxy.is_clean(), toxiproxy.dirty()
    finally:
        toxiproxy.close()
    assert state(up)["faults"] == []


@pytest.mark.parametrize(("kind", "seen"), [("kill", "refused"), ("pause", "silent")])
def test_a_process_fault_on_a_local_stack_service_is_verified_and_healed(
    up: Path, kind: str, seen: str
) -> None:
    direct = parse_address(state(up)["direct"]["redis"])
    out = chaosgate(up, "inject", "redis", kind)
    assert "fault.verified" in out
    assert roundtrip(direct, "redis", 0.5).outcome == seen
    out = chaosgate(up, "heal", "redis")
    assert "fault.remove" in out
    if kind == "kill":  # started again by `up`, which owns the process (and stops it at the end)
        assert "fault.restarted" in out
    assert roundtrip(direct, "redis", 2.0).outcome == "answered"
