"""The gateway's token bucket (pure logic, injected clock)."""

from __future__ import annotations

import pytest

from sut.mcp.ratelimit import TokenBucket

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_is_one_seconds_worth_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(600, clock=clock)  # 10 per second
    assert sum(bucket.try_acquire() for _ in range(25)) == 10
    assert bucket.retry_after_s() == pytest.approx(0.1)
    clock.now += 0.5
    assert sum(bucket.try_acquire() for _ in range(25)) == 5
    clock.now += 60  # idle time never banks more than the capacity
    assert sum(bucket.try_acquire() for _ in range(25)) == 10


def test_a_steady_rate_under_the_limit_always_passes() -> None:
    clock = FakeClock()
    bucket = TokenBucket(120, clock=clock)  # 2 per second
    passed = 0
    for _ in range(100):
        clock.now += 0.5
        passed += bucket.try_acquire()
    assert passed == 100


def test_slow_limits_keep_one_token_of_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(30, clock=clock)  # one every 2 s
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    assert bucket.retry_after_s() == pytest.approx(2.0)
    clock.now += 2.0
    assert bucket.try_acquire()


def test_rejects_a_zero_rate() -> None:
    with pytest.raises(ValueError, match="rate_per_minute"):
        TokenBucket(0)
