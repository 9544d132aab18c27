"""Inputs the judging reads: a directory of scenarios (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.loader import resolve

pytestmark = pytest.mark.unit

SCENARIO = """\
name: {name}
seed: 7
load:
  users: [api]
  rate:
    - {{rps: 40, hold_s: 20s}}
kpis:
  - error_rate(*) < 5% during whole
"""


def test_a_directory_reads_both_yml_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SCENARIO.format(name="a"))
    (tmp_path / "b.yml").write_text(SCENARIO.format(name="b"))
    (tmp_path / "notes.txt").write_text("not a scenario")
    assert sorted(s.name for s in resolve([str(tmp_path)], None)) == ["a", "b"]
