"""The one fault lifecycle (`fixtures.faults.base`): kinds implement apply / verify / undo, the
base alone is the context manager and writes the journal; modules are discovered."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import threading
import time
from typing import Any

import pytest
from faults_support import fake_stack

import fixtures.faults
from chaosgate.errors import FaultNotEffective
from fixtures.faults import REGISTRY, Fault, FaultContext, build_fault

pytestmark = pytest.mark.unit
Events = list[tuple[str, str]]


def _context(events: Events) -> tuple[FaultContext, Any, Any]:
    stack, control, toxiproxy = fake_stack()

    def note(kind: str, message: str, _attributes: dict[str, Any]) -> None:
        events.append((kind, message))

    return FaultContext(stack, note=note), control, toxiproxy


def test_every_kind_uses_the_base_lifecycle_and_implements_the_three_methods() -> None:
    # old code: each kind wrote its own `active()` context manager (7 of them)
    for kind, cls in REGISTRY.items():
        assert cls.active is Fault.active, f"{kind} has its own lifecycle"
        for method in ("apply", "verify", "undo"):
            assert getattr(cls, method) is not getattr(Fault, method), f"{kind} lacks {method}"


def test_every_fault_module_is_discovered() -> None:
    defined = set()
    for module in pkgutil.iter_modules(fixtures.faults.__path__):
        loaded = importlib.import_module(f"fixtures.faults.{module.name}")
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, Fault) and cls.__module__ == loaded.__name__ and cls.kind:
                defined.add(cls.kind)
    assert defined == set(REGISTRY)


def test_the_base_journals_inject_verified_remove_in_order() -> None:
    events: Events = []
    ctx, control, _ = _context(events)
    with build_fault("pause", "redis", {}).active(ctx):
        assert events == [("fault.inject", "pause redis"), ("fault.verified", "paused (no direct address)")]  # fmt: skip
    assert events[2:] == [("fault.remove", "resume redis")]
    assert control.calls == ["pause", "resume"]


def test_a_fault_that_does_not_verify_is_undone_before_the_error() -> None:
    events: Events = []
    ctx, control, _ = _context(events)
    control.is_paused = lambda: False  # SIGSTOP "sent", but the service did not stop
    with (
        pytest.raises(FaultNotEffective, match="pause redis"),
        build_fault("pause", "redis", {}).active(ctx),
    ):
        pytest.fail("entered a fault that did not take effect")  # fmt: skip
    assert [kind for kind, _ in events] == ["fault.inject", "fault.remove"]
    assert control.calls == ["pause", "resume"]


def test_restart_notes_its_removal_once_at_the_start_command() -> None:
    events: Events = []
    ctx, control, _ = _context(events)
    with build_fault("restart", "redis", {}).active(ctx):
        pass
    kinds = [kind for kind, _ in events]
    assert kinds == ["fault.inject", "fault.remove", "fault.restarted", "fault.verified"]
    assert ("fault.remove", "start redis") in events
    assert control.calls == ["kill", "restart"]


def test_kill_is_started_again_by_its_undo_with_the_start_command_as_the_removal() -> None:
    events: Events = []
    ctx, control, _ = _context(events)
    fault = build_fault("kill", "redis", {})
    applied = fault.inject(ctx)
    assert not control.running
    fault.heal(ctx, applied)
    assert [kind for kind, _ in events][2:] == ["fault.remove", "fault.restarted"]
    assert ("fault.remove", "restart redis") in events
    assert control.running


def test_inject_and_heal_apart_through_the_json_record() -> None:
    """What `chaosgate inject` records is enough for `heal` to rebuild the fault and undo it."""
    events: Events = []
    ctx, _, toxiproxy = _context(events)
    attributes = {"latency_ms": 100, "toxicity": 0.5}  # < 1: verified by the listing alone
    applied = build_fault("latency", "edge", attributes).inject(ctx)
    record = json.loads(
        json.dumps({"kind": "latency", "attributes": attributes, "applied": applied})
    )
    rebuilt = build_fault(record["kind"], "edge", record["attributes"])
    rebuilt.heal(ctx, record["applied"])
    assert toxiproxy.calls == ["add edge latency_downstream", "remove edge latency_downstream"]
    assert [kind for kind, _ in events] == ["fault.inject", "fault.verified", "fault.remove"]


def _flapping_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("flapping-")]


def test_flapping_journals_only_its_inner_cycles_and_stops_when_healed_from_its_record() -> None:
    events: Events = []
    ctx, control, _ = _context(events)
    attributes = {"fault": "pause", "on_s": 0.05, "off_s": 0.05}
    applied = build_fault("flapping", "redis", attributes).inject(ctx)
    time.sleep(0.4)
    record = json.loads(json.dumps(applied))
    build_fault("flapping", "redis", attributes).heal(ctx, record)
    assert _flapping_threads() == []
    assert not control.paused
    kinds = [kind for kind, _ in events]
    assert kinds.count("fault.inject") >= 2  # several cycles, each the inner pause's own
    assert kinds.count("fault.inject") == kinds.count("fault.remove")
    assert {message for _, message in events} <= {
        "pause redis", "paused (no direct address)", "resume redis"
    }  # fmt: skip


def test_flapping_that_never_switches_on_stops_its_worker() -> None:
    events: Events = []
    ctx, control, _ = _context(events)
    control.is_paused = lambda: False  # every "on" fails its verification
    fault = build_fault("flapping", "redis", {"fault": "pause", "on_s": 0.05, "off_s": 0.05})
    with pytest.raises(FaultNotEffective, match="pause redis"), fault.active(ctx):
        pytest.fail("entered a fault that never switched on")
    assert _flapping_threads() == []
    assert control.calls == ["pause", "resume"]


def _overlap_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("overlap-")]


def test_overlap_runs_each_part_at_its_offset_and_heals_every_part() -> None:
    events: Events = []
    ctx, control, _ = _context(events)
    parts = {
        "a": {"target": "redis", "fault": "pause", "offset_s": 0, "for_s": 0.1},
        "b": {"target": "redis", "fault": "pause", "offset_s": 0.2, "for_s": 5},
    }
    fault = build_fault("overlap", "redis", {"parts": parts})
    with fault.active(ctx):
        assert control.calls == ["pause"]  # the part at offset 0 is on and verified first
        time.sleep(0.5)
        assert control.calls == ["pause", "resume", "pause"]  # a done, b on
    assert _overlap_threads() == []
    assert control.calls == ["pause", "resume", "pause", "resume"]  # b cut short by the step's end
    assert [k for k, _ in events].count("fault.remove") == 2


def test_overlap_rejects_nesting_and_a_step_without_a_part_at_offset_0() -> None:
    flapping = {"a": {"target": "redis", "fault": "flapping", "for_s": 1}}
    with pytest.raises(ValueError, match="cannot be a part"):
        build_fault("overlap", "redis", {"parts": flapping})
    late = {"a": {"target": "redis", "fault": "pause", "offset_s": 1, "for_s": 1}}
    with pytest.raises(ValueError, match="offset_s 0"):
        build_fault("overlap", "redis", {"parts": late})


def test_overlap_parts_end_on_the_step_clock_not_after_their_verification() -> None:
    """Seen: a part whose verification took 3 s kept its full for_s after it and was still on
    when the next part on its target came (Toxiproxy 409, INVALID); now its end is fixed."""
    events: Events = []
    ctx, control, _ = _context(events)
    slow_verify = control.is_paused

    def slow() -> bool:
        time.sleep(0.5)
        return bool(slow_verify())

    control.is_paused = slow
    parts = {
        "a": {"target": "redis", "fault": "pause", "offset_s": 0, "for_s": 1.0},
        "b": {"target": "redis", "fault": "pause", "offset_s": 2.0, "for_s": 5},
    }
    with build_fault("overlap", "redis", {"parts": parts}).active(ctx):
        time.sleep(1.25 - 0.5)  # the step's 1.25 s (entered once a was verified, at 0.5 s)
        assert control.calls == ["pause", "resume"]  # a ended at 1.0 s, not 0.5 + 1.0
    assert _overlap_threads() == []
