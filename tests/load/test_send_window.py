"""The send window grows with the rate: precise sends at low rates, one timer wake for several
sends at high rates, never more than 2 ms early."""

from __future__ import annotations

import pytest

from scenarios.load.dispatch import SendWindow

pytestmark = pytest.mark.unit  # pure logic


def window_after(gap_s: float, sends: int = 2000) -> float:
    window = SendWindow()
    when, last = 0.0, 0.0
    for _ in range(sends):
        when += gap_s
        last = window.after(when)
    return last


@pytest.mark.parametrize(
    ("rps", "expected_ms"),
    [(10, 0.2), (400, 0.2), (1000, 0.5), (2000, 1.0), (4000, 2.0), (20000, 2.0)],
)
def test_window_follows_the_rate_within_its_bounds(rps: float, expected_ms: float) -> None:
    assert window_after(1 / rps) * 1000 == pytest.approx(expected_ms, rel=0.02)


def test_window_adapts_after_a_ramp() -> None:
    window = SendWindow()
    when = 0.0
    for gap in [0.01] * 500 + [0.0002] * 1000:  # 100 rps, then 5000 rps
        when += gap
        last = window.after(when)
    assert last == pytest.approx(SendWindow.MAX_S, rel=0.05)
