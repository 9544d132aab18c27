"""`chaosgate compare` on two capacity searches: the drop rule (a knee drop beyond both searches'
resolution and the repeat spread), its edge cases, and the command on capacity.json files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chaosgate.errors import InputError
from reports.cli import compare
from reports.compare_capacity import REPEAT_SPREAD, bounds, compare_capacity, dropped
from reports.compare_render import render_comparison_markdown

pytestmark = pytest.mark.unit


def record(knee: float | None, fail: float | None, *, max_held: bool = False,
           concluded: bool = True, kpis: tuple[str, ...] = ("p95(GET /ping) < 200ms during baseline",)) -> dict[str, Any]:  # fmt: skip
    return {"scenario": "known", "kpis": list(kpis), "window": "baseline",
            "concluded": concluded, "knee_rps": knee, "first_fail_rps": fail,
            "max_held": max_held, "below_min": knee is None, "saturation_rps": None}  # fmt: skip


@pytest.mark.parametrize(
    ("base", "new", "spread", "drop"),
    [
        # 100 rps (fails 110) -> 50 (fails 55): 55 < 100 x 0.9
        (record(100, 110), record(50, 55), 0.10, True),
        # the new search's bracket [85, 95) reaches into the spread below 100: not shown
        (record(100, 110), record(85, 95), 0.10, False),
        # ...but a tighter spread shows it
        (record(100, 110), record(85, 95), 0.02, True),
        # same knee, the bisection stopped one step lower: resolution, not a drop
        (record(100, 125), record(90, 100), 0.10, False),
        # the new max rate held: no upper bound, never a drop
        (record(100, 110), record(80, None, max_held=True), 0.10, False),
        # the base's max rate held at 80: capacity >= 80; new broke at 40
        (record(80, None, max_held=True), record(25, 40), 0.10, True),
        # the new search broke at its lowest rate (no knee): below 25 < 90
        (record(100, 110), record(None, 25), 0.10, True),
        # the base broke at its lowest rate: no knee to drop from
        (record(None, 25), record(None, 10), 0.10, False),
        # a rise is never a drop
        (record(50, 55), record(100, 110), 0.10, False),
    ],
)
def test_the_drop_rule(base: dict[str, Any], new: dict[str, Any], spread: float, drop: bool) -> None:  # fmt: skip
    assert dropped(base, new, spread) is drop
    assert compare_capacity(base, new, "b", "n", spread).exit_code == (1 if drop else 0)


def test_bounds_bracket_the_capacity() -> None:
    assert bounds(record(100, 110)) == (100, 110)
    assert bounds(record(80, None, max_held=True)) == (80, float("inf"))
    assert bounds(record(None, 25)) == (0, 25)


def test_an_unconcluded_search_or_other_kpis_is_exit_3() -> None:
    assert compare_capacity(record(100, 110), record(50, 55, concluded=False), "b", "n").exit_code == 3  # fmt: skip
    other = record(50, 55, kpis=("p99(GET /ping) < 1s during baseline",))
    assert compare_capacity(record(100, 110), other, "b", "n").exit_code == 3
    assert compare_capacity(record(100, 110), other, "b", "n", allow_changed=True).exit_code == 1


def test_markdown_states_the_rule_and_the_drop() -> None:
    text = render_comparison_markdown(compare_capacity(record(100, 110), record(50, 55), "b", "n"))
    assert "REGRESSED" in text
    assert "drop if new first fail < base knee x (1 - 25%) = 75 rps" in text
    assert "| known | `knee (baseline)` | 100 rps | 50 rps |" in text


def _search_dir(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    run = tmp_path / name
    run.mkdir()
    (run / "capacity.json").write_text(json.dumps(data))
    (run / "result.json").write_text("{}")  # beside it, as `chaosgate capacity` writes it
    return run


def test_the_command_reads_capacity_json_beside_result_json(tmp_path: Path) -> None:
    base = _search_dir(tmp_path, "base", record(100, 110))
    new = _search_dir(tmp_path, "new", record(50, 55))
    runner = CliRunner()
    done = runner.invoke(compare, [str(base / "result.json"), str(new / "capacity.json")])
    assert done.exit_code == 1, done.output
    assert "knee (baseline)" in done.output
    done = runner.invoke(compare, [str(new), str(base), "--tolerance", "5%"])
    assert done.exit_code == 0, done.output
    assert "(1 - 5%)" in done.output


def test_a_capacity_search_against_a_plain_run_is_exit_2(tmp_path: Path) -> None:
    base = _search_dir(tmp_path, "base", record(100, 110))
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "result.json").write_text("{}")
    done = CliRunner().invoke(compare, [str(base / "result.json"), str(plain / "result.json")])
    assert isinstance(done.exception, InputError)  # exit 2 (chaosgate.cli maps it)
    assert "not a capacity search" in str(done.exception)


def test_an_unconcluded_search_says_where_its_verdicts_stop() -> None:
    base = record(600, None) | {"concluded": False, "invalid_rps": 650}
    text = render_comparison_markdown(compare_capacity(base, record(350, 400), "b", "n"))
    assert "base >= 600 rps (no verdict from 650 rps up: INVALID)" in text
    assert "the highest rate tried held" not in text


# three searches of the healthy reference SUT on the quiet machine (knee, first fail)
HEALTHY = [record(1600, 1700), record(1200, 1300), record(1500, 1600)]


def test_no_two_healthy_searches_of_one_sut_are_a_drop_at_the_default_spread() -> None:
    """At the first default (10 %) 2 of these 6 pairs were exit 1: a healthy SUT flagged."""
    for base in HEALTHY:
        for new in HEALTHY:
            assert not dropped(base, new, REPEAT_SPREAD), (base, new)


def test_a_sut_at_half_its_capacity_is_a_drop_from_every_healthy_search() -> None:
    weakened = record(700, 800)  # knee 700 instead of 1,200-1,600
    assert all(dropped(base, weakened, REPEAT_SPREAD) for base in HEALTHY)
