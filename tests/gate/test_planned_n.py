"""A gate sized for its evidence before it runs: `run --check` plans each KPI's n (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosgate.cli import main
from chaosgate.errors import EXIT_BAD_INPUT
from scenarios.load.plan import RateStep
from scenarios.loader import load_scenario, shipped_scenarios
from scenarios.planned_n import FACTOR, http_shares, plan, sends_between

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

THIN = """\
name: thin
seed: 3
load:
  users: [api, dashboard]
  rate:
    - {ramp_to_rps: 20, over_s: 2s}
    - {hold_s: 18s}
kpis:
  - error_rate(*) < 5% during whole
  - p95(GET /api/items) < 200ms during whole
"""


def test_the_mix_shares_follow_class_and_task_weights() -> None:
    shares, notes = http_shares(["api", "dashboard"])
    # api weight 3 of 4; its tasks 5 health, 3 list, 2 one item, 1 create (of 11)
    assert shares["GET /api/items"] == pytest.approx(3 / 4 * 3 / 11)
    assert shares["GET /api/dashboard/performance"] == pytest.approx(1 / 4 * 4 / 5)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert notes == []
    # a task that sends through a helper (`self._post_pending()` -> `name=...`) is followed
    offline, notes = http_shares(["websocket_offline"])
    assert offline == {"POST /api/ws/{client_id}/messages": pytest.approx(1.0)}


def test_sends_are_the_rate_profiles_integral_over_the_window() -> None:
    steps = [RateStep(ramp_to_rps=100, over_s=2), RateStep(hold_s=10)]
    assert sends_between(steps, 0, 2) == pytest.approx(100)  # the ramp: half of 2 s x 100
    assert sends_between(steps, 1, 3) == pytest.approx(75 + 100)  # 50 -> 100 for 1 s, then 100


def test_check_refuses_a_kpi_planned_below_twice_its_floor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """p95 of GET /api/items: 20 rps x 19 s x 0.20 share = 78 planned; it needs 100 (x2 = 200).
    Old code: `--check` said valid, and the run came out INVALID (insufficient)."""
    path = tmp_path / "thin.yaml"
    path.write_text(THIN)
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), "--check"])
    assert exited.value.code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{path}:10: kpis.1: p95(GET /api/items) < 200ms during whole: planned 78" in err
    assert "needs 100" in err
    assert "kpis.0" not in err  # error_rate < 5%: 380 planned, needs 58


def test_check_refuses_a_count_over_a_window_shorter_than_five_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "short.yaml"
    path.write_text(THIN.replace("  - p95(GET /api/items) < 200ms during whole\n", "").replace(
        "kpis:\n", "faults:\n  - {name: f, at_s: 10, for_s: 3s, target: postgres, fault: down}\n"
        "kpis:\n  - rps(*) > 5 during fault:f\n"))  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), "--check"])
    assert exited.value.code == EXIT_BAD_INPUT
    assert (
        "rps(*) > 5 during fault:f: a window of 3 s; rps needs at least 5 s"
        in capsys.readouterr().err
    )


def _every_scenario() -> list[Path]:
    examples = [p for p in sorted(EXAMPLES.rglob("*.y*ml")) if "kpis:" in p.read_text()]
    return [*shipped_scenarios().values(), *examples]


@pytest.mark.parametrize("path", _every_scenario(), ids=lambda p: p.stem)
def test_every_shipped_and_example_scenario_is_planned_for_its_evidence(
    path: Path,
) -> None:
    scenario = load_scenario(path)
    short = [
        f"{p.expression}: {p.planned:.0f} < {FACTOR:g} x {p.needed}"
        for p in plan(scenario)
        if p.short
    ]
    assert short == []
