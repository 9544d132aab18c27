"""Each shipped scenario's KPIs can FAIL: run it against a deliberately weakened SUT (its
`sut_overrides`) or with a stricter threshold, and expect exit 1 naming the right KPI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosgate.cli import main
from scenarios.loader import shipped_scenarios

pytestmark = [pytest.mark.scenario, pytest.mark.integration]

# scenario -> (overrides to weaken the SUT, KPI replacements {old: new}, the KPI that must fail)
WEAKENED: dict[str, tuple[dict[str, Any], dict[str, str], str]] = {
    "baseline": ({}, {"avg(db_query) < 50ms during baseline": "avg(db_query) < 0.05ms during baseline"},
                 "avg(db_query) < 0.05ms during baseline"),
    "pg-latency": ({}, {"p99(GET /api/items) < 2s during fault:pg-latency": "p95(GET /api/items) < 200ms during fault:pg-latency"},
                   "p95(GET /api/items) < 200ms during fault:pg-latency"),
    "pg-down": ({"postgres.breaker.enabled": False}, {}, "max(breaker.postgres) >= 2 during fault:pg-down"),
    # no SUT knob makes a reset Redis hurt (resets fail fast, the cache is bypassed): stricter
    "redis-reset": ({}, {"p95(GET /api/dashboard/performance) < 500ms during fault:redis-reset":
                         "p95(GET /api/dashboard/performance) < 2ms during fault:redis-reset"},
                    "p95(GET /api/dashboard/performance) < 2ms during fault:redis-reset"),
    "warehouse-timeout": ({"cache.enabled": False, "warehouse.network_timeout_s": 20, "warehouse.breaker.enabled": False,
                           "dashboard.part_deadline_ms": 0}, {},
                          "p99(GET /api/dashboard/performance) < 8s during fault:wh-timeout"),
    "pool-exhaustion": ({"postgres.pool.acquire_timeout_s": 30, "postgres.statement_timeout_s": 30,
                         "postgres.breaker.enabled": False}, {},
                        "p99(GET /api/items) < 5s during fault:pg-pool"),
    # the gateway fails over within a call even without its breaker: stricter threshold
    "replica-killed": ({}, {"error_rate(GET /api/memories) < 5% during fault:replica-down":
                            "p95(GET /api/memories) < 1ms during fault:replica-down"},
                       "p95(GET /api/memories) < 1ms during fault:replica-down"),
    # its users are always connected, so the in-memory queue loses nothing here; the loss itself
    # is shown by tests/gate/test_ws_loss.py (offline client + restart, queue off -> lost(ws) breaks)
    "ws-restart": ({}, {"recovery(backend-restart) < 30s": "recovery(backend-restart) < 0.1s"},
                   "recovery(backend-restart) < 0.1s"),
    "client-bandwidth": ({}, {"p99(*) < 2s during fault:thin-client": "p99(*) < 20ms during fault:thin-client"},
                         "p99(*) < 20ms during fault:thin-client"),
    # a refused connect fails fast with or without the breaker: stricter threshold
    "redis-flapping": ({}, {"p95(GET /api/dashboard/performance) < 500ms during fault:redis-flap":
                            "p95(GET /api/dashboard/performance) < 2ms during fault:redis-flap"},
                       "p95(GET /api/dashboard/performance) < 2ms during fault:redis-flap"),
}  # fmt: skip


def weakened_file(name: str, tmp_path: Path) -> Path:
    overrides, replace, _ = WEAKENED[name]
    data = yaml.safe_load(shipped_scenarios()[name].read_text())
    data["end_on_recovery"] = True
    data.setdefault("stack", {}).setdefault("sut_overrides", {}).update(overrides)
    kpis = [replace.get(k, k) if isinstance(k, str) else k for k in data["kpis"]]
    data["kpis"] = kpis
    path = tmp_path / f"{name}-weakened.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(args: list[str]) -> int:
    """The console script does `sys.exit(main())`: errors exit, verdicts are returned."""
    try:
        return int(main(args) or 0)
    except SystemExit as exited:
        return int(exited.code or 0)


def test_every_shipped_scenario_has_a_weakened_variant() -> None:
    assert set(WEAKENED) == set(shipped_scenarios())


@pytest.mark.parametrize("name", sorted(WEAKENED))
def test_weakened_run_exits_1_naming_the_kpi(name: str, tmp_path: Path) -> None:
    expected = WEAKENED[name][2]
    code = run_cli(
        [
            "run",
            str(weakened_file(name, tmp_path)),
            "--out",
            str(tmp_path / "out"),
            "--backend",
            "local",
        ]
    )
    [result_file] = (tmp_path / "out").glob("*/result.json")
    result = json.loads(result_file.read_text())
    [scenario] = result["scenarios"]
    failed = [k["expression"] for k in scenario["kpis"] if not k["passed"]]
    assert code == 1, (
        f"exit {code}; status {scenario['status']}: {scenario.get('invalid_reason')}; failed {failed}"
    )
    assert expected in failed, f"expected {expected!r} among the failed KPIs {failed}"
