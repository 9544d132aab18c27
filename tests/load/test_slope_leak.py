"""`slope(SERIES) < X per hour` fails a slowly leaking service and passes the same service
without the leak, in a short run (tests/load/leaky_server.py, not the reference SUT).

The leak is known: every request keeps LEAK_KB KiB, at RATE requests/s that is
RATE x LEAK_KB x 60 / 1024 = 11.7 MiB per minute (703 MiB per hour). The KPI allows 60 MiB
per hour (1 MiB per minute) and is judged by the one-sided 95 % bound of the Theil-Sen slope,
so the healthy service passes only if its RSS is shown flat, and the leaking one fails with
the slope it really has (within the interpreter's per-object overhead and the rate achieved).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from load.conftest import Server
from reports.kpi_eval import evaluate
from reports.kpi_parse import parse_kpi
from reports.model import KpiVerdict, Phase, ProbeSample, ScenarioResult
from scenarios.load import LoadPlan, LoadRun
from scenarios.resources import process_usage

pytestmark = pytest.mark.integration

SERVER = str(Path(__file__).parent / "leaky_server.py")
RATE, LEAK_KB, LOAD_S = 50.0, 4.0, 45.0
LEAK_MB_PER_H = RATE * LEAK_KB * 3600 / 1024
KPI = "slope(proc.sut.rss_mb) < 60 per hour during baseline"
WARMUP_S = 10.0  # the server's threads and the load's first seconds: not judged


def _soak(start_server: Callable[..., Server], tmp_path: Path, leak_kb: float) -> KpiVerdict:
    server = start_server(SERVER, "--leak-kb", str(leak_kb))
    assert server.process.popen is not None
    sut = psutil.Process(server.process.popen.pid)
    t0 = time.time()
    plan = LoadPlan(users=["ping"], rate=[{"rps": RATE, "hold_s": LOAD_S}], drain_s=2)
    run = LoadRun(plan, server.url, t0, tmp_path / f"out-{leak_kb:g}", progress=False).start()
    probes: list[ProbeSample] = []
    while any(p.is_running() for p in run.processes):
        usage = process_usage([sut])
        assert usage is not None
        probes.append(ProbeSample(t_s=time.time() - t0, name="proc.sut.rss_mb", value=usage[0]))
        time.sleep(0.5)
    outcome = run.wait()
    end = probes[-1].t_s
    result = ScenarioResult(
        name="leak",
        status="pass",
        t0=t0,
        duration_s=end,
        phases=[Phase(name="baseline", kind="baseline", start_s=WARMUP_S, end_s=end)],
        series=outcome.series,
        probes=probes,
        generator=outcome.generator,
    )
    verdict = evaluate(parse_kpi(KPI), result)
    print(f"\nleak {leak_kb:g} KiB/request: {verdict.message}")
    return verdict


def test_a_leaking_service_fails_its_slope_kpi(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    verdict = _soak(start_server, tmp_path, LEAK_KB)
    assert verdict.status == "fail"
    assert verdict.measured is not None
    assert 0.6 * LEAK_MB_PER_H < verdict.measured < 1.6 * LEAK_MB_PER_H


def test_the_same_service_without_the_leak_passes(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    verdict = _soak(start_server, tmp_path, 0.0)
    assert verdict.status == "pass", verdict.message
