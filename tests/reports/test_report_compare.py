"""`chaosgate compare`: exit 1 on a planted regression, 0 within tolerance, 2 on bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chaosgate.errors import InputError
from reports import hdr
from reports.compare import compare_results, endpoint_percentiles, parse_tolerance
from reports.compare_render import render_comparison_html, render_comparison_markdown
from reports.load import load_result
from reports.model import RunResult

pytestmark = pytest.mark.unit

DASHBOARD = "GET /api/dashboard/performance"


def _slower(result: RunResult, name: str, factor: float) -> RunResult:
    """The same run with every latency of `name` multiplied by `factor` (real histograms)."""
    copy = result.model_copy(deep=True)
    for scenario in copy.scenarios:
        for index, bucket in enumerate(scenario.series):
            if bucket.name != name:
                continue
            scaled = hdr.new_histogram()
            for item in hdr.decode(bucket.histogram).get_recorded_iterator():
                scaled.record_value(
                    int(item.value_iterated_to * factor), item.count_at_value_iterated_to
                )
            scenario.series[index] = bucket.model_copy(update={"histogram": hdr.encode(scaled)})
    return copy


def _write(tmp_path: Path, name: str, result: RunResult) -> Path:
    path = tmp_path / name
    path.write_text(result.model_dump_json())
    return path


@pytest.fixture
def base(result_path: Callable[[str], Path]) -> RunResult:
    return load_result(result_path("pass"))


def test_a_planted_latency_regression_exits_1(
    tmp_path: Path, base: RunResult, run_cli: Callable[..., Any]
) -> None:
    slower = _write(tmp_path, "new.json", _slower(base, DASHBOARD, 1.25))
    outcome = run_cli("compare", _write(tmp_path, "base.json", base), slower, "--tolerance", "10%")
    assert outcome.code == 1
    regressed = [line for line in outcome.out.splitlines() if "REGRESSION" in line]
    assert {f"p{p}({DASHBOARD})" for p in (50, 95, 99)} <= {
        line.split("`")[1] for line in regressed
    }
    assert all("/api/items" not in line for line in regressed)


def test_a_change_within_tolerance_exits_0(
    tmp_path: Path, base: RunResult, run_cli: Callable[..., Any]
) -> None:
    slower = _write(tmp_path, "new.json", _slower(base, DASHBOARD, 1.05))
    outcome = run_cli("compare", _write(tmp_path, "base.json", base), slower, "--tolerance", "10%")
    assert outcome.code == 0, outcome.out
    assert "NO REGRESSION" in outcome.out


def test_the_same_regression_passes_with_a_wider_tolerance(
    tmp_path: Path, base: RunResult, run_cli: Callable[..., Any]
) -> None:
    slower = _write(tmp_path, "new.json", _slower(base, DASHBOARD, 1.25))
    assert (
        run_cli("compare", _write(tmp_path, "b.json", base), slower, "--tolerance", "30%").code == 0
    )


def test_percentiles_come_from_the_merged_whole_run_histogram(base: RunResult) -> None:
    table = endpoint_percentiles(base)
    merged = hdr.merge(b.histogram for b in base.scenarios[0].series if b.name == DASHBOARD)
    assert table[("postgres-latency", DASHBOARD)][99.0] == merged.get_value_at_percentile(99) / 1000


def test_a_kpi_that_passed_and_now_fails_is_a_regression_whatever_the_tolerance(
    result_path: Callable[[str], Path], run_cli: Callable[..., Any]
) -> None:
    outcome = run_cli("compare", result_path("pass"), result_path("fail"), "--tolerance", "1000%")
    assert outcome.code == 1
    assert outcome.out.count("passed before, fails now") == 4


def test_direction_follows_the_comparator(base: RunResult) -> None:
    new = base.model_copy(deep=True)
    kpi = new.scenarios[0].kpis[0]
    # For "throughput > 100" a lower measurement is the worse one.
    base.scenarios[0].kpis[0] = kpi.model_copy(
        update={"comparator": ">", "measured": 200.0, "threshold": 100}
    )
    new.scenarios[0].kpis[0] = kpi.model_copy(
        update={"comparator": ">", "measured": 150.0, "threshold": 100}
    )
    change = compare_results(base, new, 0.1).kpis[0]
    assert change.relative == pytest.approx(0.25)
    assert change.regressed
    new.scenarios[0].kpis[0] = kpi.model_copy(
        update={"comparator": ">", "measured": 400.0, "threshold": 100}
    )
    assert not compare_results(base, new, 0.1).kpis[0].regressed


def test_identical_runs_compare_clean_in_both_formats(base: RunResult) -> None:
    comparison = compare_results(base, base, 0.0)
    assert not comparison.regressed
    assert comparison.exit_code == 0
    assert "NO REGRESSION" in render_comparison_markdown(comparison)
    html = render_comparison_html(comparison)
    assert "<script" not in html
    assert 'class="banner pass"' in html


def test_comparison_markdown_snapshot(
    result_path: Callable[[str], Path], snapshot: Callable[[str, str], None]
) -> None:
    comparison = compare_results(
        load_result(result_path("pass")), load_result(result_path("fail")), 0.1
    )
    snapshot("compare_pass_fail.md", render_comparison_markdown(comparison))


def test_comparing_with_an_invalid_run_says_so(result_path: Callable[[str], Path]) -> None:
    comparison = compare_results(
        load_result(result_path("pass")), load_result(result_path("invalid")), 0.1
    )
    assert any("INVALID" in note for note in comparison.notes)
    assert "INVALID" in render_comparison_markdown(comparison)


def test_html_output_is_written(
    tmp_path: Path, result_path: Callable[[str], Path], run_cli: Callable[..., Any]
) -> None:
    out = tmp_path / "compare.html"
    outcome = run_cli(
        "compare", result_path("pass"), result_path("fail"), "--format", "html", "--out", out
    )
    assert outcome.code == 1
    assert "REGRESSED" in out.read_text()


@pytest.mark.parametrize(
    ("text", "value"), [("10%", 0.10), ("0.1", 0.1), ("0%", 0.0), (" 2.5% ", 0.025)]
)
def test_tolerance_parses(text: str, value: float) -> None:
    assert parse_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["ten", "10", "-5%"])
def test_bad_tolerance_is_bad_input(text: str) -> None:
    with pytest.raises(InputError):
        parse_tolerance(text)


def test_bad_tolerance_and_bad_files_exit_2(
    tmp_path: Path, result_path: Callable[[str], Path], run_cli: Callable[..., Any]
) -> None:
    assert (
        run_cli("compare", result_path("pass"), result_path("pass"), "--tolerance", "ten").code == 2
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": "chaosgate.result/1", "run": {')
    outcome = run_cli("compare", result_path("pass"), broken)
    assert outcome.code == 2
    assert "truncated" in outcome.err


def test_markdown_comparison_goes_to_the_github_step_summary(
    tmp_path: Path,
    result_path: Callable[[str], Path],
    run_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert run_cli("compare", result_path("pass"), result_path("fail")).code == 1
    assert "REGRESSED" in summary.read_text()


@pytest.mark.parametrize(("base_name", "new_name"), [("pass", "invalid"), ("invalid", "pass")])
def test_an_invalid_run_on_either_side_exits_3(
    result_path: Callable[[str], Path], run_cli: Callable[..., Any], base_name: str, new_name: str
) -> None:
    outcome = run_cli("compare", result_path(base_name), result_path(new_name))
    assert outcome.code == 3, outcome.out
    assert "NO REGRESSION" not in outcome.out
    assert "INVALID" in outcome.out.splitlines()[0]


def test_an_invalid_run_is_not_excused_by_a_regression_either(
    result_path: Callable[[str], Path], run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    # a regression AND an invalid run: the invalid run wins (3), a CI must not read "KPI failed"
    out = tmp_path / "compare.html"
    args = ("compare", result_path("fail"), result_path("invalid"), "--format", "html", "--out")
    assert run_cli(*args, out).code == 3
    assert 'class="banner invalid"' in out.read_text()


def test_a_kpi_missing_from_the_new_run_is_a_regression(
    tmp_path: Path, base: RunResult, run_cli: Callable[..., Any]
) -> None:
    new = base.model_copy(deep=True)
    dropped = new.scenarios[0].kpis.pop(1)
    outcome = run_cli(
        "compare", _write(tmp_path, "base.json", base), _write(tmp_path, "new.json", new)
    )
    assert outcome.code == 1, outcome.out
    line = next(x for x in outcome.out.splitlines() if dropped.expression in x)
    assert "REGRESSION (KPI missing from new run)" in line


def test_a_scenario_missing_from_the_new_run_is_a_regression(
    tmp_path: Path, base: RunResult, run_cli: Callable[..., Any]
) -> None:
    new = base.model_copy(deep=True)
    gone = new.scenarios.pop()
    outcome = run_cli(
        "compare", _write(tmp_path, "base.json", base), _write(tmp_path, "new.json", new)
    )
    assert outcome.code == 1, outcome.out
    assert f"| {gone.name} | `(scenario)` |" in outcome.out
    assert "scenario missing from new run" in outcome.out


def test_a_kpi_only_in_the_new_run_is_not_a_regression(
    tmp_path: Path, base: RunResult, run_cli: Callable[..., Any]
) -> None:
    older = base.model_copy(deep=True)
    older.scenarios[0].kpis.pop(1)
    outcome = run_cli(
        "compare", _write(tmp_path, "base.json", older), _write(tmp_path, "new.json", base)
    )
    assert outcome.code == 0, outcome.out


# -- issue 20 ------------------------------------------------------------------------------
def test_a_rise_from_a_zero_base_is_a_regression_beyond_an_absolute_tolerance(
    base: RunResult,
) -> None:
    """Old code: a zero base had no relative change, so 0 % -> 0.8 % errors never regressed."""
    new = base.model_copy(deep=True)
    kpi = new.scenarios[0].kpis[0]
    base.scenarios[0].kpis[0] = kpi.model_copy(
        update={"comparator": "<", "unit": "%", "measured": 0.0, "threshold": 1.0, "passed": True}
    )
    new.scenarios[0].kpis[0] = kpi.model_copy(
        update={"comparator": "<", "unit": "%", "measured": 0.8, "threshold": 1.0, "passed": True}
    )
    change = compare_results(base, new, 0.1).kpis[0]
    assert change.regressed
    assert "rose from 0" in change.note
    new.scenarios[0].kpis[0] = kpi.model_copy(
        update={"comparator": "<", "unit": "%", "measured": 0.05, "threshold": 1.0, "passed": True}
    )
    assert not compare_results(base, new, 0.1).kpis[0].regressed


def test_an_endpoint_missing_from_new_is_a_regression(base: RunResult) -> None:
    new = base.model_copy(deep=True)
    for scenario in new.scenarios:
        scenario.series = [b for b in scenario.series if b.name != DASHBOARD]
    comparison = compare_results(base, new, 0.1)
    missing = [c for c in comparison.percentiles if DASHBOARD in c.subject]
    assert missing
    assert all(c.regressed and c.note == "endpoint missing from new run" for c in missing)
    assert comparison.exit_code == 1  # old code: 0 (not a regression)


def test_differing_scenario_definitions_exit_3_unless_allowed(base: RunResult) -> None:
    """Old code: half the rate compared as "improved"."""
    definition = {"name": "x", "seed": 1, "load": {"rate": [{"rps": 40, "hold_s": 30}]}}
    for scenario in base.scenarios:
        scenario.scenario = definition
    new = base.model_copy(deep=True)
    reseeded = {**definition, "seed": 2}  # another seed: the same definition
    for scenario in new.scenarios:
        scenario.scenario = reseeded
    assert compare_results(base, new, 0.1).exit_code == 0
    halved = {**definition, "load": {"rate": [{"rps": 20, "hold_s": 30}]}}
    new.scenarios[0].scenario = halved
    comparison = compare_results(base, new, 0.1)
    assert comparison.changed == (new.scenarios[0].name,)
    assert comparison.exit_code == 3
    assert "definitions differ" in render_comparison_markdown(comparison)
    assert compare_results(base, new, 0.1, allow_changed=True).exit_code == 0
