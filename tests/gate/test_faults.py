"""Every fault kind against real Toxiproxy, Postgres and Redis: applied, VERIFIED, undone."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chaosgate.errors import FaultNotEffective, ScenarioError
from chaosgate.processes import free_port
from chaosgate.settings import load_settings
from fixtures.faults import REGISTRY, FaultContext, build_fault
from fixtures.faults.verify import roundtrip
from fixtures.local.backend import open_local_stack
from fixtures.stack import Address, ProxyEdge, Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deps() -> Iterator[Stack]:
    """Dependencies + Toxiproxy (no SUT needed for the proxy- and process-level faults)."""
    with open_local_stack(load_settings(), with_sut=False, report=lambda _line: None) as stack:
        yield stack


@pytest.fixture
def ctx(deps: Stack) -> Iterator[FaultContext]:
    events: list[tuple[str, str]] = []
    context = FaultContext(deps, note=lambda kind, message, _a: events.append((kind, message)))
    yield context
    assert deps.toxiproxy.is_clean(), deps.toxiproxy.dirty()
    for name, control in deps.controls.items():
        assert control.is_running(), f"{name} left stopped"


PROXY_FAULTS: list[tuple[str, str, dict[str, Any]]] = [
    ("latency", "redis", {"latency_ms": 200, "jitter_ms": 10}),
    ("latency", "postgres", {"latency_ms": 150, "stream": "upstream"}),
    ("bandwidth", "redis", {"rate_kbps": 10}),
    ("slow_close", "postgres", {"delay_ms": 100}),
    ("timeout", "redis", {"timeout_ms": 0}),
    ("reset_peer", "redis", {"timeout_ms": 0}),
    ("slicer", "postgres", {"average_size_bytes": 1, "delay_us": 100}),
    ("limit_data", "redis", {"limit_bytes": 0}),
    ("down", "postgres", {}),
    ("latency", "redis", {"latency_ms": 100, "toxicity": 0.5}),
]


@pytest.mark.parametrize(("kind", "target", "attributes"), PROXY_FAULTS)
def test_proxy_fault_takes_effect_and_undoes_itself(
    ctx: FaultContext, kind: str, target: str, attributes: dict[str, Any]
) -> None:
    fault = build_fault(kind, target, attributes)
    before = roundtrip(ctx.stack.proxied(target), target, 2.0)
    assert before.outcome == "answered"
    with fault.active(ctx):
        assert not ctx.stack.toxiproxy.is_clean()
    after = roundtrip(ctx.stack.proxied(target), target, 2.0)
    assert after.outcome == "answered"
    assert after.seconds < 0.1


def test_latency_probe_sees_the_added_time(ctx: FaultContext) -> None:
    with build_fault("latency", "redis", {"latency_ms": 300}).active(ctx):
        seen = roundtrip(ctx.stack.proxied("redis"), "redis", 2.0)
    assert seen.seconds >= 0.27  # 10 % timer slack


def test_a_fault_that_cannot_show_is_not_effective_and_still_cleans_up(ctx: FaultContext) -> None:
    # through a disabled proxy no probe can see latency: the run must be invalid, not passed
    with build_fault("down", "redis", {}).active(ctx):
        latency = build_fault("latency", "redis", {"latency_ms": 200})
        with pytest.raises(FaultNotEffective, match="latency on redis"), latency.active(ctx):
            pytest.fail("entered a fault that did not take effect")
        assert ctx.stack.toxiproxy.toxics("redis") == []


def test_undo_runs_when_the_body_fails(ctx: FaultContext) -> None:
    with pytest.raises(RuntimeError), build_fault("reset_peer", "postgres", {}).active(ctx):
        raise RuntimeError("scenario body failed")


@pytest.mark.parametrize("kind", ["kill", "pause", "restart"])
def test_process_faults_on_redis(ctx: FaultContext, kind: str) -> None:
    control = ctx.stack.controls["redis"]
    with build_fault(kind, "redis", {}).active(ctx):
        if kind == "kill":
            assert not control.is_running()
        if kind == "pause":
            assert roundtrip(ctx.stack.direct["redis"], "redis", 0.5).outcome == "silent"
    assert control.is_running()
    assert roundtrip(ctx.stack.direct["redis"], "redis", 2.0).outcome == "answered"


def test_flapping_cycles_and_stops_clean(ctx: FaultContext) -> None:
    fault = build_fault("flapping", "redis", {"fault": "down", "on_s": 0.3, "off_s": 0.3})
    seen: set[str] = set()
    with fault.active(ctx):
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and len(seen) < 2:
            seen.add(roundtrip(ctx.stack.proxied("redis"), "redis", 1.0).outcome)
    assert seen == {"refused", "answered"}


def _on_s(kind: str, attributes: dict[str, Any], deps: Stack, hold_s: float) -> list[float]:
    """Seconds each inner fault was on (its fault.inject to its fault.remove, journaled)."""
    stamps: list[tuple[str, float]] = []

    def note(event: str, _message: str, _attributes: dict[str, Any]) -> None:
        stamps.append((event, time.monotonic()))

    with build_fault(kind, "redis", attributes).active(FaultContext(deps, note=note)):
        time.sleep(hold_s)
    on = [t for e, t in stamps if e == "fault.inject"]
    off = [t for e, t in stamps if e == "fault.remove"]
    return [b - a for a, b in zip(on, off, strict=False)]


@pytest.mark.parametrize(
    ("kind", "attributes", "hold_s"),
    [
        ("overlap", {"parts": {"a": {"target": "redis", "fault": "timeout", "offset_s": 0,
                                     "for_s": 1.0, "attributes": {"timeout_ms": 0}}}}, 1.5),
        ("overlap", {"parts": {"a": {"target": "redis", "fault": "pause", "offset_s": 0,
                                     "for_s": 0.6}}}, 1.0),
        ("flapping", {"fault": "timeout", "on_s": 1.0, "off_s": 0.5}, 2.2),
    ],
)  # fmt: skip
def test_a_fault_shorter_than_its_silence_probe_ends_on_its_schedule(
    deps: Stack, kind: str, attributes: dict[str, Any], hold_s: float
) -> None:
    """Seen in explore: a `timeout` part scheduled for 2 s was on for 3 s, the time its probe
    waits to call the path silent, so a shrink to 2 s never ran a 2-s fault. The probe waits
    no longer than the fault is due to last."""
    lengths = _on_s(kind, attributes, deps, hold_s)
    wanted = attributes.get("on_s") or attributes["parts"]["a"]["for_s"]
    assert lengths
    assert all(length < wanted + 0.3 for length in lengths), lengths
    assert deps.toxiproxy.is_clean(), deps.toxiproxy.dirty()


def test_unknown_target_is_bad_input(ctx: FaultContext) -> None:
    with (
        pytest.raises(ScenarioError, match="unknown proxy 'nope'"),
        build_fault("down", "nope", {}).active(ctx),
    ):
        pass


def test_catalog_has_every_kind_the_issue_names() -> None:
    assert set(REGISTRY) >= {
        "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data",
        "down", "pool_exhaustion", "kill", "pause", "restart", "flapping",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "target", "attributes"),
    [("pause", "redis", {}), ("latency", "postgres", {"latency_ms": 100}), ("down", "redis", {})],
)
def test_an_interrupt_while_applying_still_undoes(
    deps: Stack, kind: str, target: str, attributes: dict[str, Any]
) -> None:
    """Ctrl-C arriving at the worst moment (fault applied, verification under way)."""

    def interrupt(event: str, _message: str, _attributes: dict[str, Any]) -> None:
        if event == "fault.inject":
            raise KeyboardInterrupt

    context = FaultContext(deps, note=interrupt)
    with pytest.raises(KeyboardInterrupt), build_fault(kind, target, attributes).active(context):
        pytest.fail("the body must not run")
    assert deps.toxiproxy.is_clean(), deps.toxiproxy.dirty()
    assert not getattr(deps.controls[target], "is_paused", lambda: False)()
    assert roundtrip(deps.proxied(target), target, 2.0).outcome == "answered"


# -- with the SUT running: the fault must reach it, not only our probe -------------------------


@pytest.fixture(scope="module")
def full() -> Iterator[Stack]:
    """The whole local stack, SUT included (its pools hold connections through the proxies)."""
    with open_local_stack(load_settings(), with_sut=True, report=lambda _line: None) as stack:
        yield stack


def verified_note(stack: Stack, kind: str, target: str, attributes: dict[str, Any]) -> str:
    notes: list[tuple[str, str]] = []
    context = FaultContext(stack, note=lambda event, message, _a: notes.append((event, message)))
    with build_fault(kind, target, attributes).active(context):
        pass
    assert stack.toxiproxy.is_clean(), stack.toxiproxy.dirty()
    [verified] = [message for event, message in notes if event == "fault.verified"]
    print(f"{kind} on {target}: {verified}")
    return verified


@pytest.mark.parametrize(
    ("kind", "target", "attributes"),
    [
        ("bandwidth", "postgres", {"rate_kbps": 10}),
        ("slow_close", "redis", {"delay_ms": 100}),
        ("slicer", "postgres", {"average_size_bytes": 1, "delay_us": 100}),
        ("limit_data", "redis", {"limit_bytes": 100000}),
        ("latency", "warehouse", {"latency_ms": 100, "toxicity": 0.5}),
        ("down", "redis", {}),
    ],
)
def test_with_the_sut_each_fault_shows_the_sut_s_traffic_through_its_proxy(
    full: Stack, kind: str, target: str, attributes: dict[str, Any]
) -> None:
    verified = verified_note(full, kind, target, attributes)
    assert f"proxy {target} carries traffic" in verified, verified


def test_latency_on_a_dependency_slows_the_sut_s_own_readiness_check(full: Stack) -> None:
    verified = verified_note(full, "latency", "postgres", {"latency_ms": 300})
    took = re.search(r"SUT readiness check of postgres took (\d+) ms", verified)
    assert took is not None, verified
    assert int(took.group(1)) >= 270


def test_a_proxy_the_sut_does_not_use_makes_the_fault_not_effective(full: Stack) -> None:
    """A second proxy to Postgres that no SUT connection uses: our probe through it would see
    the latency (the old verification passed), but the SUT never would."""
    stray = ProxyEdge("stray", Address("127.0.0.1", free_port()), full.direct["postgres"])
    full.toxiproxy.create_proxy(stray.name, stray.listen, stray.upstream)
    full.proxies["stray"] = stray
    try:
        with (
            pytest.raises(FaultNotEffective, match=r"proxy stray .* carried no traffic") as error,
            build_fault("latency", "stray", {"latency_ms": 200}).active(FaultContext(full)),
        ):
            pytest.fail("entered a fault the SUT cannot see")
        assert error.value.hint == "is the SUT's traffic really routed through this proxy?"
    finally:
        del full.proxies["stray"]
        full.toxiproxy.delete_proxy("stray")
