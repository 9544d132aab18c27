"""The settle between capacity steps (pure: fake probes and clock; the run: test_capacity)."""

from __future__ import annotations

from scenarios.capacity_settle import Idle, settle
from scenarios.capacity_step import Point

IDLE = Idle(p50_ms=40.0, error_rate=0.0)


def _point(p50_ms: float | None, error_rate: float = 0.0) -> Point:
    return Point("probe", 25, 25, "pass", p50_ms, p50_ms, p50_ms, 75, error_rate, 0.0, 5.0)


class Clock:
    def __init__(self, step_s: float) -> None:
        self.now, self.step_s = 0.0, step_s

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now


def test_probes_until_the_median_is_back_near_idle() -> None:
    """A backlog draining: 5 s, 1.2 s, 90 ms (within 2 x 40 ms? no), 60 ms: settled."""
    seen = iter([_point(5000), _point(1200), _point(90), _point(60)])
    probes: list[int] = []

    def probe() -> Point:
        probes.append(1)
        return next(seen)

    assert settle(IDLE, probe, deadline_s=100, after=200, rate=150, clock=Clock(5)) is None
    assert len(probes) == 4


def test_a_sut_that_never_settles_makes_the_next_step_invalid_with_its_reason() -> None:
    verdict = settle(IDLE, lambda: _point(900), deadline_s=30, after=200, rate=150, clock=Clock(10))
    assert verdict is not None
    assert (verdict.status, verdict.rate) == ("invalid", 150)
    assert "not settled 30 s after the step at 200 rps" in str(verdict.reason)
    assert "probe p50 900.0 ms" in str(verdict.reason)


def test_errors_beyond_the_idle_share_are_not_settled_and_a_tiny_p50_has_a_floor() -> None:
    assert not IDLE.holds(_point(41, error_rate=0.05))
    assert not IDLE.holds(_point(None))
    fast = Idle(p50_ms=1.0, error_rate=0.0)
    assert fast.holds(_point(5.5))  # 2 x 1 ms is jitter: 5 ms above idle is still idle
    assert not fast.holds(_point(6.5))
