"""A scenario after which the stack is dirty (a toxic left, a SUT process dead, an external SUT
that stopped answering) is INVALID with the reason, not PASS with a note.

The stack is a fake (no processes): `run_all` with `open_stack` and `run_scenario` replaced, so
this pins the orchestrator's rule, not a backend's behaviour.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest

import scenarios.orchestrator as orchestrator
from chaosgate.errors import EXIT_INVALID, EXIT_OK
from chaosgate.settings import load_settings
from fixtures.clean import restore_clean
from fixtures.stack import USERS_SYSTEM, Backend, ServiceControl, Stack
from fixtures.toxiproxy import ToxiproxyAdapter
from reports.model import ScenarioResult
from scenarios.loader import scenario_from_data
from scenarios.schema import Scenario

pytestmark = pytest.mark.unit


class FakeToxiproxy:
    def __init__(self) -> None:
        self.toxics: list[str] = []

    def version(self) -> str:
        return "2.12.0"

    def dirty(self) -> list[str]:
        return [f"proxy postgres has toxic {t} (latency)" for t in self.toxics]

    def reset(self) -> None:
        self.toxics.clear()


class FakeProcess:
    def __init__(self, name: str) -> None:
        self.name = name
        self.running, self.paused = True, False
        self.restarts = 0

    def is_running(self) -> bool:
        return self.running

    def is_paused(self) -> bool:
        return self.paused

    def resume(self) -> None:
        self.paused = False

    def restart(self) -> None:
        self.running, self.restarts = True, self.restarts + 1


def fake_stack(backend: Backend = "local", sut_direct_url: str = "http://127.0.0.1:1") -> Stack:
    controls = {name: FakeProcess(name) for name in ("postgres", "toxiproxy", "backend")}
    return Stack(
        backend=backend,
        toxiproxy=cast(ToxiproxyAdapter, FakeToxiproxy()),
        sut_url=sut_direct_url,
        sut_direct_url=sut_direct_url,
        controls=cast(dict[str, ServiceControl], controls),
    )


def scenario(name: str) -> Scenario:
    return scenario_from_data(
        {
            "name": name,
            "load": {"users": ["api"], "rate": [{"rps": 5, "hold_s": 5}]},
            "kpis": ["error_rate(*) < 1%"],
        }
    )


Mess = Callable[[Stack], None]


def _leave_clean(_stack: Stack) -> None:
    """The scenario undid everything it did."""


def run(monkeypatch: pytest.MonkeyPatch, stack: Stack, messes: dict[str, Mess], tmp: Path) -> Any:
    @contextmanager
    def opened(*_args: Any, **_kwargs: Any) -> Iterator[Stack]:
        yield stack

    def ran(_stack: Stack, item: Scenario, *_args: Any) -> ScenarioResult:
        messes.get(item.name, _leave_clean)(stack)
        return ScenarioResult(name=item.name, status="pass", t0=time.time(), duration_s=5.0)

    monkeypatch.setattr(orchestrator, "open_stack", opened)
    monkeypatch.setattr(orchestrator, "run_scenario", ran)
    return orchestrator.run_all(
        [scenario(name) for name in ("first", "second", "third")],
        load_settings(),
        backend="local",
        out_dir=tmp,
        run_id="dirty",
        report=lambda _line: None,
    )


def leave_a_toxic(stack: Stack) -> None:
    cast(FakeToxiproxy, stack.toxiproxy).toxics.append("latency_downstream")


def kill_the_backend(stack: Stack) -> None:
    cast(FakeProcess, stack.controls["backend"]).running = False


def test_a_toxic_left_after_a_scenario_makes_it_invalid(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = run(monkeypatch, fake_stack(), {"second": leave_a_toxic}, tmp_path)
    statuses = {s.name: s.status for s in result.scenarios}
    assert statuses == {"first": "pass", "second": "invalid", "third": "pass"}
    assert result.exit_code == EXIT_INVALID
    [dirty] = [s for s in result.scenarios if s.name == "second"]
    assert dirty.invalid_reason is not None
    assert "proxy postgres has toxic latency_downstream" in dirty.invalid_reason
    assert [e.kind for e in dirty.events] == ["cleanup"]


def test_a_sut_process_dead_after_a_scenario_makes_it_invalid_and_is_restarted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stack = fake_stack()
    result = run(monkeypatch, stack, {"first": kill_the_backend}, tmp_path)
    [first, *rest] = result.scenarios
    assert first.status == "invalid"
    assert "backend was left stopped" in (first.invalid_reason or "")
    assert [s.status for s in rest] == ["pass", "pass"]  # repaired before the next one
    assert cast(FakeProcess, stack.controls["backend"]).restarts == 1


def test_a_clean_stack_keeps_the_verdict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result = run(monkeypatch, fake_stack(), {}, tmp_path)
    assert result.exit_code == EXIT_OK
    assert all(s.events == [] for s in result.scenarios)


@pytest.fixture
def listening() -> Iterator[str]:
    server = socket.create_server(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_an_external_sut_that_stopped_answering_is_found(listening: str) -> None:
    stack = fake_stack("external", listening)
    stack.controls, stack.capabilities = {}, USERS_SYSTEM  # the user's processes are not ours
    assert restore_clean(stack) == []
    port = int(listening.rsplit(":", 1)[1])
    with socket.create_server(("127.0.0.1", 0)) as spare:  # a port nobody listens on after
        dead = spare.getsockname()[1]
    stack.sut_direct_url = f"http://127.0.0.1:{dead}"
    [found] = restore_clean(stack)
    assert found.startswith(f"the SUT at http://127.0.0.1:{dead} accepts no connection")
    assert port != dead
