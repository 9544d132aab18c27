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


def _soak(start_server: Callable[..., Server], tmp_path: Path) -> dict[float, KpiVerdict]:
    """The leaking and the healthy service soaked side by side, each under its own load (50 rps
    each: a memory slope does not depend on the CPU the other takes), one verdict each."""
    servers = {kb: start_server(SERVER, "--leak-kb", str(kb)) for kb in (LEAK_KB, 0.0)}
    suts = {}
    for kb, server in servers.items():
        assert server.process.popen is not None
        suts[kb] = psutil.Process(server.process.popen.pid)
    t0 = time.time()
    plan = LoadPlan(users=["ping"], rate=[{"rps": RATE, "hold_s": LOAD_S}], drain_s=2)
    runs = {
        kb: LoadRun(plan, server.url, t0, tmp_path / f"out-{kb:g}", progress=False).start()
        for kb, server in servers.items()
    }
    probes: dict[float, list[ProbeSample]] = {kb: [] for kb in servers}
    while any(p.is_running() for run in runs.values() for p in run.processes):
        for kb, sut in suts.items():
            usage = process_usage([sut])
            assert usage is not None
            sample = ProbeSample(t_s=time.time() - t0, name="proc.sut.rss_mb", value=usage[0])
            probes[kb].append(sample)
        time.sleep(0.5)
    verdicts = {}
    for kb, run in runs.items():
        outcome = run.wait()
        end = probes[kb][-1].t_s
        result = ScenarioResult(
            name="leak",
            status="pass",
            t0=t0,
            duration_s=end,
            phases=[Phase(name="baseline", kind="baseline", start_s=WARMUP_S, end_s=end)],
            series=outcome.series,
            probes=probes[kb],
            generator=outcome.generator,
        )
        verdicts[kb] = evaluate(parse_kpi(KPI), result)
        print(f"\nleak {kb:g} KiB/request: {verdicts[kb].message}")
    return verdicts


def test_a_leaking_service_fails_its_slope_kpi_and_the_same_one_without_the_leak_passes(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    verdicts = _soak(start_server, tmp_path)
    leaking, healthy = verdicts[LEAK_KB], verdicts[0.0]
    assert leaking.status == "fail"
    assert leaking.measured is not None
    assert 0.6 * LEAK_MB_PER_H < leaking.measured < 1.6 * LEAK_MB_PER_H
    assert healthy.status == "pass", healthy.message
