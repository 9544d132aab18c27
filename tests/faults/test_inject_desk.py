"""`chaosgate inject` / `heal` through the fault desk of a running `up` (here: a desk over a fake
stack in this process, so the command line, the desk and the state file's records are tested
without starting services; tests/faults/test_inject_real.py does it on a real stack)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import FakeControl, fake_stack

from chaosgate.cli import main
from chaosgate.settings import Timeouts
from fixtures.up_desk import DeskServer

pytestmark = pytest.mark.unit


@pytest.fixture
def desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[DeskServer, FakeControl]]:
    monkeypatch.setenv("CHAOSGATE_STATE_DIR", str(tmp_path / "state"))
    stack, control, _ = fake_stack()
    server = DeskServer(stack, Timeouts.model_validate({}), tmp_path / "state")
    server.start()
    try:
        yield server, control
    finally:
        server.close()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _recorded(tmp_path: Path) -> list[dict[str, object]]:
    faults: list[dict[str, object]] = json.loads((tmp_path / "state" / "up.json").read_text())[
        "faults"
    ]
    return faults


def test_inject_verifies_records_and_heal_undoes_exactly_that(
    desk: tuple[DeskServer, FakeControl], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, control = desk
    code, out, err = _run(capsys, "inject", "redis", "pause")
    assert code == 0, err
    assert "fault.verified" in out
    [record] = _recorded(tmp_path)
    assert (record["kind"], record["target"]) == ("pause", "redis")
    assert control.calls == ["pause"]  # carried out by the desk, on the stack `up` holds
    code, out, err = _run(capsys, "heal", "redis")
    assert code == 0, err
    assert "fault.remove: resume redis" in out
    assert control.calls == ["pause", "resume"]
    assert _recorded(tmp_path) == []


def test_a_fault_that_does_not_take_effect_is_invalid_undone_and_not_recorded(
    desk: tuple[DeskServer, FakeControl], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, control = desk
    control.is_paused = lambda: False  # type: ignore[method-assign]
    code, _, err = _run(capsys, "inject", "redis", "pause")
    assert code == 3, err
    assert "pause redis: the service still answers" in err
    assert control.calls == ["pause", "resume"]
    assert _recorded(tmp_path) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["inject", "edge", "jitter"], "'jitter' is not one of"),
        (["inject", "edge", "latency", "latency=100"], "latency_ms=INT"),  # Toxiproxy's name
        (["inject", "edge", "latency", "latency_ms=fast"], "latency_ms: expected int"),
        (["inject", "edge", "latency"], "needs attribute 'latency_ms'"),
        (["inject", "nowhere", "latency", "latency_ms=100"], "a proxy of the running stack: edge"),
        (["inject", "edge", "kill"], "a service of the running stack: redis"),
        (["heal", "nowhere"], "the running stack has: edge, redis"),
    ],
)
def test_bad_input_is_exit_2_saying_what_was_expected(
    desk: tuple[DeskServer, FakeControl],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == 2, err
    assert expected in err
    assert desk[1].calls == []
