"""End to end: `chaosgate run` of the example's pg-down scenario, FAIL naive, PASS resilient.

The scenario files are the shipped ones (examples/example_service/gate/); only the target
is rewritten with this test's ports. chaosgate starts its own Toxiproxy from the target.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chaosgate.errors import EXIT_KPI_FAILED, EXIT_OK
from chaosgate.processes import ManagedProcess, free_port
from examples.example_service.run import start_example_service
from fixtures.local.services import LocalService
from reports.load import load_result

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "examples" / "example_service" / "gate"
FAIL_FAST = "p95(GET /items) < 1s during fault:pg-down"

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


@pytest.fixture
def scenario_dir(tmp_path: Path, example_services: tuple[Path, LocalService, LocalService]) -> Path:
    """The shipped files, the target pointed at this test's Postgres and free ports."""
    _, pg, _ = example_services
    for name in ("pg-down.yaml", "mix.yaml", "signals.yaml"):
        shutil.copy(SHIPPED / name, tmp_path / name)
    target = yaml.safe_load((SHIPPED / "target.yaml").read_text())
    listen, port = free_port(), free_port()
    target["target_url"] = f"http://127.0.0.1:{port}"
    target["upstreams"]["postgres"] = {"upstream": f"127.0.0.1:{pg.port}", "listen": listen}
    (tmp_path / "target.yaml").write_text(yaml.safe_dump(target))
    return tmp_path


def _gate(directory: Path, resilient: bool) -> tuple[int, dict[str, bool], str]:
    """Start the service (its DSN on the proxy's port), run the scenario; exit code, KPIs."""
    target = yaml.safe_load((directory / "target.yaml").read_text())
    port = int(target["target_url"].rsplit(":", 1)[1])
    listen = target["upstreams"]["postgres"]["listen"]
    dsn = f"postgresql://postgres@127.0.0.1:{listen}/chaosgate"
    app: ManagedProcess = start_example_service(directory, port, dsn, resilient=resilient)
    out = directory / f"reports-{'resilient' if resilient else 'naive'}"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "chaosgate", "run", str(directory / "pg-down.yaml"),
             "--out", str(out)],
            capture_output=True, text=True, timeout=300, cwd=directory, check=False,
        )  # fmt: skip
    finally:
        app.stop(5)
    results = sorted(out.rglob("result.json"))
    kpis: dict[str, bool] = {}
    if results:
        for scenario in load_result(results[-1]).scenarios:
            kpis.update({k.expression: k.passed for k in scenario.kpis})
    return done.returncode, kpis, done.stdout + done.stderr


def test_the_naive_service_fails_the_pg_down_scenario(scenario_dir: Path) -> None:
    code, kpis, output = _gate(scenario_dir, resilient=False)
    assert code == EXIT_KPI_FAILED, output
    assert kpis[FAIL_FAST] is False, kpis  # it hangs on Postgres instead of failing fast
    assert kpis["p95(GET /items) < 200ms during baseline"] is True, kpis  # the right reason
    assert kpis["error_rate(*) < 1% during baseline"] is True, kpis


def test_the_resilient_service_passes_it(scenario_dir: Path) -> None:
    code, kpis, output = _gate(scenario_dir, resilient=True)
    assert code == EXIT_OK, output
    assert kpis, output
    assert all(kpis.values()), kpis


def test_what_init_writes_passes_check(
    example_services: tuple[Path, LocalService, LocalService], tmp_path: Path
) -> None:
    _, pg, _ = example_services
    port = free_port()
    dsn = f"postgresql://postgres@127.0.0.1:{pg.port}/chaosgate"
    app = start_example_service(tmp_path, port, dsn)
    try:
        chaosgate = [sys.executable, "-m", "chaosgate"]
        url, up = f"http://127.0.0.1:{port}", f"postgres=127.0.0.1:{pg.port}"
        init = subprocess.run(
            [*chaosgate, "init", url, "--upstream", up, "--dir", "gate"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert init.returncode == EXIT_OK, init.stderr
        check = subprocess.run(
            [*chaosgate, "run", "--check", "gate/scenario.yaml"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert check.returncode == EXIT_OK, check.stdout + check.stderr
    finally:
        app.stop(5)
