"""A stack without processes: a service control and a Toxiproxy that only record what they are
asked, for the fault lifecycle's own tests (no SUT, so no traffic witness)."""

from __future__ import annotations

from typing import Any, cast

from fixtures.stack import Address, ProxyEdge, Stack
from fixtures.toxiproxy import ToxicState


class FakeControl:
    def __init__(self, name: str = "redis") -> None:
        self.name = name
        self.running, self.paused = True, False
        self.calls: list[str] = []

    def is_running(self) -> bool:
        return self.running

    def is_paused(self) -> bool:
        return self.paused

    def kill(self) -> None:
        self.calls.append("kill")
        self.running = False

    def stop(self) -> None:
        self.calls.append("stop")
        self.running = False

    def pause(self) -> None:
        self.calls.append("pause")
        self.paused = True

    def resume(self) -> None:
        self.calls.append("resume")
        self.paused = False

    def restart(self) -> None:
        self.calls.append("restart")
        self.running = True


class FakeToxiproxy:
    base_url = "http://127.0.0.1:9"  # nothing listens: a real call would fail loudly

    def __init__(self) -> None:
        self.listed: dict[str, ToxicState] = {}
        self.calls: list[str] = []

    def add_toxic(self, proxy: str, type: str, *, stream: str = "downstream", **_: Any) -> str:
        name = f"{type}_{stream}"
        self.calls.append(f"add {proxy} {name}")
        self.listed[name] = ToxicState(name, type, cast(Any, stream), 1.0)
        return name

    def toxics(self, proxy: str) -> list[ToxicState]:
        return list(self.listed.values())

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.calls.append(f"remove {proxy} {name}")
        del self.listed[name]


def fake_stack() -> tuple[Stack, FakeControl, FakeToxiproxy]:
    control, toxiproxy = FakeControl(), FakeToxiproxy()
    edge = ProxyEdge("edge", Address("127.0.0.1", 9), Address("127.0.0.1", 9))
    stack = Stack(backend="local", toxiproxy=cast(Any, toxiproxy), sut_url="", sut_direct_url="",
                  proxies={"edge": edge}, controls={"redis": control})  # fmt: skip
    return stack, control, toxiproxy
