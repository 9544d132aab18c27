"""A stack that can restart its SUT serves every override group of a run: one bring-up, the
SUT restarted with each next group's overrides; a stack that cannot is opened per group as
before. Fakes only (no processes): `open_stack` and `run_scenario` are replaced."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from test_session import SCENARIO, FakeProcess, FakeToxiproxy  # the fakes of the session tests

import scenarios.orchestrator as orchestrator
from chaosgate.errors import StackError
from chaosgate.settings import load_settings
from fixtures.stack import ServiceControl, Stack
from fixtures.toxiproxy import ToxiproxyAdapter
from reports.model import ScenarioResult
from scenarios.loader import load_scenario
from scenarios.schema import Scenario

pytestmark = pytest.mark.unit


class Opened:
    """What the fake backend saw: stacks opened (their overrides), SUT restarts, teardowns."""

    def __init__(self, restartable: bool, fail_restart_on: Mapping[str, Any] | None = None):
        self.restartable, self.fail_restart_on = restartable, fail_restart_on
        self.opened: list[dict[str, Any] | None] = []
        self.restarts: list[dict[str, Any] | None] = []
        self.closed = 0
        self.ran: list[tuple[str, str]] = []  # (scenario, the stack's SUT url)

    def restart(self, overrides: Mapping[str, Any] | None) -> None:
        if overrides is not None and overrides == self.fail_restart_on:
            raise StackError("backend exited during start-up")
        self.restarts.append(dict(overrides) if overrides else None)

    @contextmanager
    def open_stack(self, *_args: Any, sut_overrides: Any = None, **_kw: Any) -> Iterator[Stack]:
        self.opened.append(sut_overrides)
        try:
            yield Stack(
                backend="local",
                toxiproxy=cast(ToxiproxyAdapter, FakeToxiproxy()),
                sut_url="http://127.0.0.1:2",
                sut_direct_url=f"http://127.0.0.1:{8000 + len(self.opened)}",
                controls={"backend": cast(ServiceControl, FakeProcess("backend"))},
                restart_sut=self.restart if self.restartable else None,
            )
        finally:
            self.closed += 1

    def run_scenario(self, stack: Stack, scenario: Scenario, *_a: Any, **_k: Any) -> ScenarioResult:
        self.ran.append((scenario.name, stack.sut_direct_url))
        return ScenarioResult(name=scenario.name, status="pass", t0=time.time(), duration_s=5.0)


def scenarios(tmp_path: Path, **extra: str) -> list[Scenario]:
    loaded = []
    for name, more in extra.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(SCENARIO.format(name=name, extra=more))
        loaded.append(load_scenario(path))
    return loaded


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: Opened) -> list[ScenarioResult]:
    monkeypatch.setattr(orchestrator, "open_stack", fake.open_stack)
    monkeypatch.setattr(orchestrator, "run_scenario", fake.run_scenario)
    slow = "stack:\n  sut_overrides: {postgres.slow_query_ms: 250}\n"
    no_cache = "stack:\n  sut_overrides: {cache.enabled: false}\n"
    result = orchestrator.run_all(
        scenarios(tmp_path, a_plain="", b_slow=slow, c_plain="", d_no_cache=no_cache),
        load_settings(), backend="local", out_dir=tmp_path / "out", run_id="r",
        report=lambda _line: None, progress=False,
    )  # fmt: skip
    return result.scenarios


def test_a_restartable_stack_is_brought_up_once_and_restarted_per_override_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = Opened(restartable=True)
    results = run(tmp_path, monkeypatch, fake)
    assert [r.status for r in results] == ["pass"] * 4
    assert fake.opened == [None]  # one bring-up for the whole run
    # groups in first-appearance order: plain (a, c), slow (b), no cache (d)
    assert fake.restarts == [{"postgres.slow_query_ms": 250}, {"cache.enabled": False}]
    assert [name for name, _ in fake.ran] == ["a_plain", "c_plain", "b_slow", "d_no_cache"]
    assert fake.closed == 1


def test_a_stack_that_cannot_restart_its_sut_is_opened_per_group_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = Opened(restartable=False)
    run(tmp_path, monkeypatch, fake)
    assert fake.opened == [None, {"postgres.slow_query_ms": 250}, {"cache.enabled": False}]
    assert fake.restarts == []
    assert fake.closed == 3


def test_a_failed_sut_restart_makes_its_group_invalid_and_the_next_group_gets_a_new_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = Opened(restartable=True, fail_restart_on={"postgres.slow_query_ms": 250})
    results = run(tmp_path, monkeypatch, fake)
    by_name = {r.name: r for r in results}
    assert by_name["b_slow"].status == "invalid"
    assert "stack failed: backend exited during start-up" in (
        by_name["b_slow"].invalid_reason or ""
    )
    assert [by_name[n].status for n in ("a_plain", "c_plain", "d_no_cache")] == ["pass"] * 3
    # the failed restart tore the shared stack down; the next group brought up a fresh one
    assert fake.opened == [None, {"cache.enabled": False}]
    assert fake.closed == 2
