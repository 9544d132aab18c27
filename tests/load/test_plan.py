"""Load plans: bad input is refused with the field named; durations parse; the schedule is exact."""

from __future__ import annotations

import itertools
import statistics
from typing import Any

import pytest

from chaosgate.errors import InputError, ScenarioError
from scenarios.load import LoadPlan, RateStep, parse_duration
from scenarios.load.schedule import expected_arrivals, offsets

pytestmark = pytest.mark.unit


def plan(**overrides: Any) -> LoadPlan:
    fields: dict[str, Any] = {"users": ["api"], "rate": [{"rps": 10, "hold_s": "5s"}]}
    return LoadPlan(**(fields | overrides))


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"rate": [{"rps": 0, "hold_s": 5}]}, "rate.0.rps", "greater than 0"),
        ({"rate": [{"rps": -5, "hold_s": 5}]}, "rate.0.rps", "greater than 0"),
        ({"rate": [{"ramp_to_rps": -1, "over_s": 5}]}, "rate.0.ramp_to_rps", "greater than 0"),
        ({"users": ["api", "robot"]}, "users", "unknown user class 'robot'"),
        ({"rate": [{"rps": 5, "hold_s": "soon"}]}, "rate.0.hold_s", "not a duration: 'soon'"),
        ({"rate": [{"ramp_to_rps": 5, "over_s": "10 parsecs"}]}, "rate.0.over_s", "not a duration"),
        ({"drain_s": "-3s"}, "drain_s", "not a duration"),
        ({"workers": 0}, "workers", "greater than or equal to 1"),
        ({"rate": [{"ramp_to_rps": 5}]}, "rate.0", "needs both ramp_to_rps and over_s"),
    ],
)
def test_bad_input_names_the_field(overrides: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        plan(**overrides)
    assert isinstance(caught.value, InputError)
    assert f"load plan: {field}" in str(caught.value)
    assert says in str(caught.value)


def test_rate_step_alone_is_checked_too() -> None:
    with pytest.raises(ScenarioError, match=r"load plan: rps: .*greater than 0"):
        RateStep(rps=0, hold_s=1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("2.5", 2.5), (4, 4), ("1h", 3600), ("2m", 120)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_constant_schedule_is_exact_and_spread() -> None:
    times = list(offsets([RateStep(rps=100, hold_s=2)], "constant", 0))
    assert len(times) == 200
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {0.01}  # evenly spaced: no two sends in the same instant


def test_ramp_follows_the_integral_of_the_rate() -> None:
    steps = [RateStep(ramp_to_rps=200, over_s=10), RateStep(hold_s=5)]
    times = list(offsets(steps, "constant", 0))
    assert expected_arrivals(steps) == pytest.approx(1000 + 1000)
    assert len(times) == 2000
    first_half = sum(1 for t in times if t < 5)  # ramp 0->100 rps over 5 s: 250 sends
    assert first_half == 250
    assert times == sorted(times)


def test_poisson_schedule_has_the_asked_rate_and_is_seeded() -> None:
    steps = [RateStep(rps=500, hold_s=20)]
    times = list(offsets(steps, "poisson", 7))
    assert abs(len(times) - 10_000) < 4 * 100  # 4 sigma of a Poisson count
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert statistics.mean(gaps) == pytest.approx(1 / 500, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(1 / 500, rel=0.1)  # exponential: sd == mean
    assert times == list(offsets(steps, "poisson", 7))
    assert times != list(offsets(steps, "poisson", 8))


@pytest.mark.parametrize("arrival", ["constant", "poisson"])
def test_worker_shares_make_up_the_single_schedule(arrival: str) -> None:
    steps = [RateStep(ramp_to_rps=300, over_s=3), RateStep(hold_s=2)]
    whole = list(offsets(steps, arrival, 3))
    shares = [list(offsets(steps, arrival, 3, index, 3)) for index in range(3)]
    assert sorted(t for share in shares for t in share) == whole
    assert max(len(s) for s in shares) - min(len(s) for s in shares) <= 1
