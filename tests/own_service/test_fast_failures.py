"""A small service of the test suite's own (the example service, not the reference SUT) behind
chaosgate's Toxiproxy, its Postgres blackholed for 15 s (issue 21):

- resilient (0.5 s DB timeout + breaker): it answers fast 503s. A p95 over the fault window
  reads those 503s and passes; the error rate beside it fails: FAIL, exit 1, on the error
  KPI, and the reports say the percentile was mostly errors.
- naive (no DB timeout): requests hang until the client gives up (2 s): they are `timeout`s,
  not fast errors, and `timeout_rate` fails.

A scenario with the percentile alone is valid, with a warning on stderr."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chaosgate.errors import EXIT_KPI_FAILED, EXIT_OK
from chaosgate.processes import free_port
from examples.example_service.run import start_example_service
from fixtures.local.services import LocalService
from reports.load import load_result
from reports.model import ScenarioResult

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "examples" / "example_service" / "gate"
FAULT = "fault:pg-down"
P95 = f"p95(GET /items) < 1s during {FAULT}"
ERRORS = f"error_rate(GET /items) < 5% during {FAULT}"
TIMEOUTS = f"timeout_rate(GET /items) < 5% during {FAULT}"

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


@pytest.fixture
def scenario_dir(tmp_path: Path, example_services: tuple[Path, LocalService, LocalService]) -> Path:
    """The shipped example's files with this test's ports and KPIs (a shorter run)."""
    _, pg, _ = example_services
    for name in ("mix.yaml", "signals.yaml"):
        shutil.copy(SHIPPED / name, tmp_path / name)
    target = yaml.safe_load((SHIPPED / "target.yaml").read_text())
    target["target_url"] = f"http://127.0.0.1:{free_port()}"
    target["upstreams"]["postgres"] = {"upstream": f"127.0.0.1:{pg.port}", "listen": free_port()}
    (tmp_path / "target.yaml").write_text(yaml.safe_dump(target))
    scenario = yaml.safe_load((SHIPPED / "pg-down.yaml").read_text())
    scenario["name"] = "fast-failures"
    # 80 rps and 11 s of baseline: the baseline p95 of GET /items (30 % of the mix) is planned
    # at 2x its 100 samples (run --check)
    scenario["load"]["rate"] = [{"ramp_to_rps": 80, "over_s": 2}, {"hold_s": 32}]
    scenario["faults"][0]["at_s"] = 12
    scenario["kpis"] = [
        "p95(GET /items) < 200ms during baseline",
        "error_rate(*) < 1% during baseline",
        P95,
        ERRORS,
        TIMEOUTS,
    ]
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))
    return tmp_path


def _gate(directory: Path, resilient: bool) -> tuple[int, ScenarioResult, str, str]:
    target = yaml.safe_load((directory / "target.yaml").read_text())
    port = int(target["target_url"].rsplit(":", 1)[1])
    listen = target["upstreams"]["postgres"]["listen"]
    dsn = f"postgresql://postgres@127.0.0.1:{listen}/chaosgate"
    app = start_example_service(directory, port, dsn, resilient=resilient)
    out = directory / f"reports-{'resilient' if resilient else 'naive'}"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "chaosgate", "run", str(directory / "scenario.yaml"),
             "--out", str(out)],
            capture_output=True, text=True, timeout=300, cwd=directory, check=False,
        )  # fmt: skip
    finally:
        app.stop(5)
    output = done.stdout + done.stderr
    [path] = sorted(out.rglob("result.json"))
    [scenario] = load_result(path).scenarios
    summary = "\n".join(p.read_text() for p in out.rglob("summary.md"))
    return done.returncode, scenario, output, summary


def _verdicts(scenario: ScenarioResult) -> dict[str, tuple[bool, float | None]]:
    return {k.expression: (k.passed, k.measured) for k in scenario.kpis}


def _in_fault(scenario: ScenarioResult, field: str) -> int:
    [phase] = [p for p in scenario.phases if p.name == FAULT]
    return sum(
        getattr(b, field)
        for b in scenario.series
        if b.name == "GET /items" and phase.start_s <= b.mid_s < phase.end_s
    )


def test_fast_503s_pass_the_percentile_and_fail_the_error_rate(scenario_dir: Path) -> None:
    code, scenario, output, summary = _gate(scenario_dir, resilient=True)
    kpis = _verdicts(scenario)
    assert code == EXIT_KPI_FAILED, output
    assert kpis[P95][0] is True, kpis  # the fast 503s make a fine p95
    assert kpis[ERRORS][0] is False, kpis  # FAIL for the right reason
    assert kpis[TIMEOUTS][0] is True, kpis  # fast failures, no hangs
    assert kpis["p95(GET /items) < 200ms during baseline"][0] is True, kpis
    assert _in_fault(scenario, "errors") > _in_fault(scenario, "count") / 2
    assert "were errors" in summary, summary  # the percentile says what it read
    assert "were errors" in output, output  # ... in the console table too


def test_hanging_requests_are_timeouts_and_fail_timeout_rate(scenario_dir: Path) -> None:
    code, scenario, output, _ = _gate(scenario_dir, resilient=False)
    kpis = _verdicts(scenario)
    assert code == EXIT_KPI_FAILED, output
    assert kpis[TIMEOUTS][0] is False, kpis
    timeouts = _in_fault(scenario, "timeouts")
    assert timeouts > 0
    kinds = [b.error_kinds for b in scenario.series if b.name == "GET /items"]
    assert sum(k.get("timeout", 0) for k in kinds) >= timeouts  # its own kind, not a generic one


def test_a_percentile_alone_is_valid_with_a_warning(scenario_dir: Path) -> None:
    path = scenario_dir / "scenario.yaml"
    scenario = yaml.safe_load(path.read_text())
    scenario["kpis"] = [k for k in scenario["kpis"] if k not in (ERRORS, TIMEOUTS)]
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    done = subprocess.run(
        [sys.executable, "-m", "chaosgate", "run", "--check", str(path)],
        capture_output=True, text=True, timeout=60, cwd=scenario_dir, check=False,
    )  # fmt: skip
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    assert f"warning: '{P95}' judges a latency percentile" in done.stderr, done.stderr
