"""Scenario schema and loader: whole-file validation, file:line errors, published JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from chaosgate.errors import ScenarioError
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
        ("recovery(pg-down)", "recovery(pg-up)", r"names fault 'pg-up'"),
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
