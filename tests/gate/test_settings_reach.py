"""Settings are resolved once and passed down: `run --config` reaches the load engine."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from chaosgate.settings import load_settings
from scenarios.loader import load_scenario, shipped_scenarios
from scenarios.runner import ScenarioRun

pytestmark = pytest.mark.unit


def test_the_run_settings_reach_the_load_engine(tmp_path: Path) -> None:
    """Failed before: LoadRun read the default settings itself, ignoring `run --config`."""
    config = tmp_path / "chaosgate.yaml"
    config.write_text("timeouts:\n  startup_s: 99\n  teardown_s: 7.5\n")
    settings = load_settings(config)
    scenario = load_scenario(shipped_scenarios()["baseline"])
    stack = SimpleNamespace(sut_url="http://127.0.0.1:9", sut_direct_url="http://127.0.0.1:9",
                            signals=None, dependencies=())  # fmt: skip
    run = ScenarioRun(stack, scenario, settings, tmp_path)  # type: ignore[arg-type]
    assert run.load.timeouts == settings.timeouts
    assert (run.load.timeouts.startup_s, run.load.timeouts.teardown_s) == (99, 7.5)
