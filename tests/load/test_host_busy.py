"""A busy host is not a slow SUT: CPU taken by processes that are neither the stack's nor the
harness's, per judged window; a KPI that failed while it was above the limit is INVALID (host
busy), one that failed while the host was quiet stays a FAIL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from load.conftest import Server
from reports.model import HostLoad, KpiVerdict, WindowLoad
from scenarios.hostload import HostSampler, Sample, window_percent
from scenarios.runner import host_busy

REPO = Path(__file__).resolve().parents[2]
HOG = "import sys, time\nend = time.time() + float(sys.argv[1])\nwhile time.time() < end: pass\n"


def _verdict(spans: list[tuple[float, float]], passed: bool = False) -> KpiVerdict:
    return KpiVerdict(expression=f"p95(GET /x) < 1ms during {spans}", window="baseline",
                      measured=5.0, threshold=1.0, comparator="<", unit="ms", passed=passed,
                      status="pass" if passed else "fail", spans=spans)  # fmt: skip


def _host(busy_from: float, busy_to: float) -> HostLoad:
    return HostLoad(limit_percent=25, windows=[
        WindowLoad(window="baseline", start_s=0, end_s=10, other_percent=3, busy=False),
        WindowLoad(window="fault:f", start_s=busy_from, end_s=busy_to, other_percent=96,
                   busy=True),
    ])  # fmt: skip


@pytest.mark.unit
def test_a_kpi_failed_while_the_host_was_busy_is_invalid_with_the_figure() -> None:
    failed = _verdict([(10, 20)])
    reason = host_busy([failed, _verdict([(0, 10)], passed=True)], _host(10, 20))
    assert reason is not None
    assert reason.startswith("host busy: 96 % of a core taken by other processes during fault:f")
    assert "not judged: host busy, 96 %" in failed.message


@pytest.mark.unit
def test_a_kpi_failed_while_the_host_was_quiet_stays_a_fail() -> None:
    assert host_busy([_verdict([(0, 10)]), _verdict([(10, 20)])], _host(10, 20)) is None
    assert host_busy([_verdict([(10, 20)], passed=True)], _host(10, 20)) is None  # a PASS stands


@pytest.mark.unit
def test_window_figures_prorate_each_sample() -> None:
    samples = [Sample(0, 1, other_s=1.0, steal_s=0.0), Sample(1, 2, other_s=0.0, steal_s=0.5)]
    assert window_percent(samples, 0.5, 1.5) == pytest.approx((75.0, 25.0))
    assert window_percent(samples, 5, 6) == (0.0, 0.0)


@contextmanager
def _hog(tmp_path: Path, seconds: float, detached: bool) -> Iterator[int]:
    """A busy loop named `cghog` (a link to python: its /proc comm), bounded by `seconds`;
    detached (`setsid -f`: not in our process tree, like other work on the machine) or our
    child. Stopped by its PID."""
    link = tmp_path / "cghog"
    if not link.exists():
        link.symlink_to(sys.executable)
    pid_file = tmp_path / f"hog-{time.monotonic_ns()}.pid"
    code = f"import os; open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n{HOG}"
    argv = [str(link), "-c", code, str(seconds)]
    child = subprocess.Popen(["setsid", "-f", *argv] if detached else argv)
    deadline = time.time() + 10
    while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
        time.sleep(0.02)
    pid = int(pid_file.read_text())
    try:
        yield pid
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        child.wait(timeout=10)


@pytest.mark.integration
def test_the_sampler_counts_other_work_and_not_its_own(tmp_path: Path) -> None:
    with _hog(tmp_path, 8, detached=True), HostSampler(time.time(), interval_s=0.25) as other:
        time.sleep(2.0)
    # a share of a core (on a shared 2-core machine it gets what the others leave it)
    assert other.by_name.get("cghog", 0) / 2.0 > 0.15, other.by_name
    assert other.window(0, 2.5)[0] > 15
    with _hog(tmp_path, 8, detached=False), HostSampler(time.time(), interval_s=0.25) as own:
        time.sleep(1.5)
    assert "cghog" not in own.by_name, own.by_name  # the harness's own child: not other work


SCENARIO = """\
name: busy
target: {{target_url: "{url}", upstreams: {{db: "{address}"}}}}
load:
  users: [ping]
  tolerance_ms: 50
  rate: [{{rps: 50, hold_s: 12s}}]
kpis:
  - p50(GET /ping) < 1us during baseline   # fails on any host: the subject is why it failed
"""


@pytest.mark.scenario
@pytest.mark.integration
def test_a_cpu_hog_started_mid_run_makes_a_failed_kpi_invalid_host_busy(
    http_server: Callable[..., Server], tmp_path: Path
) -> None:
    """A busy loop taking one core, started 4 s into the load and stopped by PID. Fails on the
    old code: exit 1 (FAIL), nothing said the host was busy."""
    server = http_server()
    scenario = tmp_path / "busy.yaml"
    scenario.write_text(SCENARIO.format(url=server.url, address=server.url.split("//")[1]))
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, "-m", "chaosgate", "run", str(scenario), "--out", str(out)],
        cwd=tmp_path, env=os.environ | {"PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        # out/<run-id>/<scenario>/load-records.jsonl: the load has started
        while not list(out.glob("*/*/load-records.jsonl")) and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(4)
        with _hog(tmp_path, 20, detached=True):
            stdout, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 3, stdout
    [result_file] = out.glob("*/result.json")
    [result] = json.loads(result_file.read_text())["scenarios"]
    assert "host busy: " in result["invalid_reason"], result["invalid_reason"]
    [baseline] = result["host"]["windows"]
    assert baseline["busy"], result["host"]
    assert baseline["other_percent"] > 25, result["host"]
    assert result["host"]["top"], result["host"]  # who took it, named in the report


@pytest.mark.unit
def test_the_summary_shows_the_host_figure_and_troubled_setups() -> None:
    from reports.markdown import render_markdown
    from reports.model import RunResult, UserSetup

    path = REPO / "tests" / "reports" / "result_pass.json"
    result = RunResult.model_validate_json(path.read_text())
    scenario = result.scenarios[0]
    scenario.host = _host(10, 20)
    assert scenario.generator is not None
    scenario.generator.setup = {"ApiUser": UserSetup(users=112, attempts=115, refused=3)}
    text = render_markdown(result)
    assert f"Host `{scenario.name}`: other processes took up to 96 % of a core (fault:f" in text
    assert f"Set-up `{scenario.name}`: ApiUser 112 steps, 3 refused (retried), 0 failed" in text
