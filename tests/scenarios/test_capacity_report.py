"""The capacity record: saturation from judged steps only, the knee's sentence for each way a
search ends, and the page and curve written."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.capacity import Judged, SearchOutcome, StepStatus, StepVerdict
from scenarios.capacity_report import knee_text, saturation, summary, write
from scenarios.capacity_step import Point, step_plan
from scenarios.loader import resolve

pytestmark = pytest.mark.unit


def pt(rate: float, status: str, errors: float = 0.0, degraded: float = 0.0) -> Point:
    return Point(f"s-{rate:g}rps", rate, rate, status, 2.0, 10.0, 20.0, 100, errors, degraded, 5.0)


def test_saturation_is_the_first_judged_rate_past_the_share() -> None:
    points = [pt(100, "pass"), pt(200, "invalid", errors=0.4), pt(300, "fail", 0.03, 0.03),
              pt(400, "fail", errors=0.5)]  # fmt: skip
    found = saturation(points)
    assert found is not None
    assert found.rate == 300  # errors + degraded 6 % > 5 %; the INVALID 200 is not judged
    assert saturation([pt(100, "pass"), pt(200, "invalid", errors=0.9)]) is None


def judged(rate: float, status: StepStatus, broke: str | None = None) -> Judged:
    return Judged(rate, status, (StepVerdict(rate, status, None, broke, "host busy"),))


def test_knee_text_and_files(tmp_path: Path) -> None:
    [scenario] = resolve(["baseline"], None)
    plan = step_plan(scenario, ["p95(GET /api/items) < 200ms during baseline"], None, 5.0)
    outcome = SearchOutcome(
        knee=400.0, first_fail=judged(450, "fail", "p95(GET /api/items) < 200ms")
    )
    points = [pt(400, "pass"), pt(450, "fail", errors=0.1)]
    record = summary(outcome, points, plan, "chaosgate capacity baseline")
    assert knee_text(record).startswith("knee: 400 rps holds; 450 rps broke p95(GET /api/items)")
    assert record["saturation_rps"] == 450
    written = write(tmp_path, record, points)
    assert all(p.stat().st_size > 0 for p in written)
    assert "<svg" in (tmp_path / "capacity.html").read_text()

    stuck = SearchOutcome(knee=400.0, invalid=judged(450, "invalid"))
    text = knee_text(summary(stuck, points, plan, ""))
    assert "no conclusion" in text
    assert "host busy" in text
    assert "held up to 400 rps" in text
    held = knee_text(summary(SearchOutcome(knee=800.0, max_held=True), points, plan, ""))
    assert held.startswith("capacity at least 800 rps")


@pytest.mark.parametrize(
    ("knee", "concluded", "status"),
    [
        (350.0, True, "pass"),
        (300.0, True, "pass"),
        (250.0, True, "fail"),
        (None, True, "fail"),
        (350.0, False, None),
    ],
)
def test_a_capacity_kpi_is_judged_on_the_knee(knee: float | None, concluded: bool,
                                              status: str | None) -> None:  # fmt: skip
    from scenarios.capacity_report import judge_checks
    from scenarios.capacity_step import StepPlan

    [base] = resolve(["baseline"], None)
    plan = StepPlan(base, ("p95(* ) < 1s during baseline",), "baseline", None, 5.0,
                    ("capacity(*) >= 300rps",))  # fmt: skip
    invalid = None if concluded else Judged(400.0, "invalid", ())
    outcome = SearchOutcome(knee=knee, invalid=invalid)
    found = judge_checks(outcome, plan)
    assert [v.status for v in found] == ([] if status is None else [status])


def test_the_suts_cpu_is_read_from_each_process_counter_inside_the_judged_window() -> None:
    """The curve had the generator's CPU only; the issue asks for the SUT's too."""
    from reports.model import ProbeSample, ScenarioResult
    from scenarios.capacity_step import sut_cpu_percent

    probes = [
        ProbeSample(t_s=t, name="proc.backend.cpu_s", value=100 + 0.6 * t) for t in range(0, 21)
    ]
    probes += [
        ProbeSample(t_s=t, name="proc.gateway.cpu_s", value=5 + 0.2 * t) for t in range(0, 21)
    ]
    probes += [ProbeSample(t_s=t, name="proc.backend.rss_mb", value=90.0) for t in range(0, 21)]
    result = ScenarioResult(name="s", status="pass", t0=0.0, duration_s=20, probes=probes)
    assert sut_cpu_percent(result, [(5.0, 15.0)]) == pytest.approx(80.0)  # 60 % + 20 % of a core
    assert sut_cpu_percent(result, [(30.0, 40.0)]) is None  # no sample in the window
