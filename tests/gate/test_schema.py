"""Scenario schema and loader: whole-file validation, file:line errors, published JSON Schema."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

from chaosgate.cli import main
from chaosgate.errors import EXIT_BAD_INPUT, ScenarioError
from scenarios.loader import load_scenario, shipped_scenarios
from scenarios.schema import json_schema_text

pytestmark = pytest.mark.unit

GOOD = """\
name: pg-down
tags: [release]
seed: 7
load:
  users: [api, dashboard]
  rate:
    - {ramp_to_rps: 40, over_s: 2s}
    - {hold_s: 40s}
faults:
  - {name: pg-down, at_s: 8, for_s: 20s, target: postgres, fault: down}
kpis:
  - p95(*) < 200ms during baseline
  - {expression: "error_rate(*) < 1% during baseline", abort: true, grace_s: 2}
  - recovery(pg-down) < 30s
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_a_good_file_gives_phases_and_the_seeded_plan(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD))
    assert [(p.name, p.start_s, p.end_s) for p in scenario.phases()] == [
        ("baseline", 0.0, 7.0),  # one second short of the fault: in-flight sends
        ("fault:pg-down", 8.0, 28.0),
        ("recovery:pg-down", 28.0, 42.0),
    ]
    assert scenario.plan().seed == 7
    assert scenario.kpis[1].abort
    assert next(k.text for k in scenario.steady_checks()) == "p95(*) < 200ms during baseline"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("target: postgres", "target: pg", r":10: faults\.0\.target: unknown target 'pg'"),
        (
            "fault: down}",
            "fault: down, attributes: {latency_ms: 3}}",
            r":10: faults\.0: .*no attribute 'latency_ms'",
        ),
        ("seed: 7", "sed: 7", r":3: sed: unknown field"),
        ("< 30s", "< 30 parsecs", r":14: kpis\.2\.expression: bad KPI expression"),
        ("recovery(pg-down)", "recovery(pg-up)", r":14: kpis\.2: .*names fault 'pg-up'"),
        # the argument must name a request the users declare, a probe series, a fault, ws
        ("p95(*)", "p95(GET /api/itmes)", r":12: kpis\.0: .*'GET /api/itmes' is none"),
        (
            "p95(*) < 200ms",
            "error_rate(ready) < 1%",
            r":12: kpis\.0: .*error_rate\(\) needs a request",
        ),
        ("p95(*) < 200ms during baseline", "lost(ws) == 0", r":12: kpis\.0: .*no websocket user"),
        (
            "  - recovery(pg-down) < 30s",
            '  - {expression: "recovery(pg-down) < 30s", abort: true}',
            r":14: kpis\.2: .*cannot abort",
        ),
        (
            "  - recovery(pg-down) < 30s",
            '  - recovery(pg-down) < 30s\nsteady_state: ["rps(ready) > 0"]',
            r":15: steady_state\.0: .*rps\(\) needs a request",
        ),
        ("at_s: 8", "at_s: soon", r":10: faults\.0\.at_s: .*not a duration"),
        ("hold_s: 40s", "hold_s: 10s", r"load lasts only 12s"),
        (
            "users: [api, dashboard]",
            "users: [api, robots]",
            r":5: load\.users: .*unknown user class 'robots'",
        ),
        ("name: pg-down\n", "", r":1: name: required field missing"),
        ("  - {hold_s: 40s}", "  - {hold_s: 40s}\n  broken: [", r"not valid YAML"),
    ],
)
def test_errors_name_file_line_and_what_was_expected(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(write(tmp_path, GOOD.replace(old, new, 1)))


def test_the_published_json_schema_is_current_and_accepts_shipped_files() -> None:
    published = Path(__file__).parents[2] / "scenarios" / "scenario.schema.json"
    assert published.read_text() == json_schema_text(), "regenerate: python -m scenarios.schema"
    schema = json.loads(published.read_text())
    jsonschema.validate(yaml.safe_load(GOOD), schema)
    for path in shipped_scenarios().values():
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
        load_scenario(path)


def test_probe_series_and_star_are_valid_arguments(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - recovery(pg-down) < 30s",
        "  - recovery(pg-down) < 30s\n  - avg(db_query) < 50ms\n"
        "  - max(breaker.postgres) >= 2 during fault:pg-down\n  - count(*) > 0\n"
        "  - error_rate(GET /api/dashboard/performance) < 5%",
    )
    assert len(load_scenario(write(tmp_path, text)).kpis) == 7


def test_a_typo_in_a_request_name_exits_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A KPI naming a request no user sends is bad input before anything runs (old code: it
    validated, then FAILED at run time with "no ... requests")."""
    path = write(tmp_path, GOOD.replace("p95(*)", "p95(GET /api/itmes)"))
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), "--check"])
    assert exited.value.code == EXIT_BAD_INPUT
    assert f"{path}:12: kpis.0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # non-finite or absurd numbers validated before (rate .inf ran at 4.65 rps and PASSED)
        ("ramp_to_rps: 40", "ramp_to_rps: .inf", r":7: load\.rate\.0\.ramp_to_rps: .*finite"),
        ("{ramp_to_rps: 40, over_s: 2s}", "{rps: 1e300, hold_s: 2s}", r":7: load\.rate\.0\.rps"),
        ("users: [api, dashboard]", "users: [api]\n  tolerance_ms: .inf", r":6: load\.tolerance"),
        ("users: [api, dashboard]", "users: [api]\n  cpu_limit_percent: .nan", r":6: load\.cpu"),
        ("users: [api, dashboard]", "users: [api]\n  drain_s: 1e300", r":6: load\.drain_s"),
        ("{hold_s: 40s}", "{hold_s: 1e9}", r":8: load\.rate\.1\.hold_s: .*finite"),
        ("grace_s: 2", "grace_s: .inf", r":13: kpis\.1\.grace_s: .*finite"),
        ("seed: 7", "seed: 100000000000000000000000", r":3: seed: "),
        # whole-scenario checks point at the line to fix, not at line 1
        ("hold_s: 40s", "hold_s: 10s", r":10: faults\.0\.for_s: .*load lasts only 12s"),
        (
            "  - recovery(pg-down) < 30s",
            "  - recovery(pg-down) < 30s\nsteady_state: []",
            r":14: kpis\.2: recovery\(\.\.\.\) needs steady-state checks",
        ),
        (
            "for_s: 20s, target: postgres, fault: down}",
            "for_s: 2s, target: postgres, fault: down}\n"
            "  - {name: pg-down, at_s: 12, for_s: 2s, target: postgres, fault: down}",
            r":11: faults\.1\.name: fault names must be unique",
        ),
        (
            "target: postgres, fault: down}",
            "target: postgres, fault: down}\n"
            "  - {name: b, at_s: 12, for_s: 2s, target: postgres, fault: down}",
            r":11: faults\.1\.at_s: fault 'b' starts at 12s, before the previous one ends",
        ),
        (
            "    - {ramp_to_rps: 40, over_s: 2s}\n",
            "    - {hold_s: 2s}\n",
            r":7: load\.rate\.0: the first step must set a rate",
        ),
        # a sut_overrides the SUT would refuse fails here, at its own line
        (
            "tags: [release]",
            "tags: [release]\nstack:\n  sut_overrides:\n    cache.enabled: true\n"
            "    postgres.pool.min_size: 50",
            r":6: stack\.sut_overrides\.postgres\.pool\.min_size: .*expected at most max_size",
        ),
        (
            "tags: [release]",
            "tags: [release]\nstack:\n  sut_overrides: {cache.enabld: true}",
            r":4: stack\.sut_overrides\.cache\.enabld: .*unknown key",
        ),
        (
            "tags: [release]",
            "tags: [release]\nstack:\n  sut_overrides: {cache.dashboard_ttl_s: .inf}",
            r":4: stack\.sut_overrides\.cache\.dashboard_ttl_s: expected a finite number",
        ),
    ],
)
def test_values_that_would_hang_or_mislead_are_refused_at_their_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(write(tmp_path, GOOD.replace(old, new, 1)))


def test_a_bad_sut_override_fails_check_naming_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Old code: `--check` passed, then the run failed naming a deleted temp SUT config."""
    text = GOOD.replace(
        "tags: [release]",
        "tags: [release]\nstack:\n  sut_overrides:\n    postgres.pool.min_size: 50",
    )
    path = write(tmp_path, text)
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), "--check"])
    assert exited.value.code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{path}:5: stack.sut_overrides.postgres.pool.min_size" in err
    assert "sut.yaml" not in err


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "latin1"])
def test_an_odd_file_as_a_scenario_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """Old code: /dev/zero was a MemoryError traceback and a FIFO with no writer hung."""
    path = tmp_path / "scenario.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    else:
        path.write_bytes(GOOD.replace("pg-down\n", "pg-d\xe9\n", 1).encode("latin-1"))
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), "--check"])
    assert exited.value.code == EXIT_BAD_INPUT
    assert str(path) in capsys.readouterr().err
