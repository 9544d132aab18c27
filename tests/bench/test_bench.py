"""`chaosgate bench`: the truth it compares with, and its JSON contract."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from fixtures.pytest_plugin import missing_component
from reports.hdr import new_histogram
from reports.model import SLICE_S
from scenarios.bench.measure import true_latencies
from scenarios.load import LoadPlan


@pytest.mark.unit
def test_true_latencies_follow_the_schedule_and_the_stall() -> None:
    plan = LoadPlan(users=["ping"], rate=[{"rps": 200, "hold_s": 6}], arrival="constant")
    start = 1_000.0
    truth = true_latencies(plan, start, start + 2.0, start + 3.0, base_s=0.001)
    assert truth.get_total_count() == 1200
    # first send inside the stall: intended at 2.0025 s (constant: (k + 0.5) / rate), done at 3 s
    assert truth.values_are_equivalent(truth.get_max_value(), 997_500)
    stalled = truth.get_total_count() - truth.get_count_at_value(1_000)
    assert stalled == 200  # every send whose answer fell due during the 1 s stall
    assert truth.get_value_at_percentile(99) > 900_000
    assert new_histogram().get_total_count() == 0


# The engine's targets (issue 27, docs/load-engine.md) and the noise margin each assertion
# allows on a shared 2-core machine, from 12 benches at load average 4.5-9.7 (other sessions'
# suites), old and new engine alike: CO p99 error 0.16-2.73 % (one 5.0 % at load 9.7: such a
# host fails it, re-run on a quieter one); fidelity error 0.06-2.8 ms (4.6 ms in 8 more runs):
# two 3-s runs whose wake-ups the host delays differently, host noise, not the engine, so that
# bound stays the 2 ms it was.
FIDELITY_TARGET_MS, FIDELITY_NOISE_MS = 0.2, 1.8
CO_ERROR_TARGET_PCT, CO_ERROR_NOISE_PCT = 2.0, 3.0
# CPU per request at the same rate, k6's / the engine's (both open model, 100 users/VUs). At
# 1,000 rps: with Locust's client 0.52-0.67 in 7 benches at load average 4.5-9.7, 0.32-0.54 on
# the quiet machine (k6 gains more from a free core); with the lean client (scenarios/users/
# lean_http.py) 0.54-0.75 in 3 quiet benches. Now at the 2,000 rps: 0.62-0.88 in 3
# quiet benches (the engine 68-89 us, k6 50-60 us). The guard stays 0.4, 0.65 of the quiet
# lowest, which Locust's client failed at 1,000 rps in 2 of 3 quiet benches (0.32, 0.34)
K6_CPU_RATIO_MIN = 0.4
# Max rate per core against Locust's best closed loop and k6 (GOMAXPROCS=1) in the same run:
# with the lean client 1.38-1.98 and 1.14-1.39 in 3 quiet benches (Locust's client: 0.65-0.67
# and 0.39-0.42). Guards: the 0.9 for Locust (0.65 of the quiet lowest; a busy host
# took ~1/4 off this ratio before) and 0.8 for k6 (0.7 of the quiet lowest)
LOCUST_RATIO_MIN, K6_RATIO_MIN = 0.9, 0.8
RATIOS = ("engine_vs_locust", "engine_vs_k6", "engine_vs_locust_cpu", "engine_vs_k6_cpu",
          "engine_vs_k6_cpu_at_max")  # fmt: skip


@pytest.mark.bench
@pytest.mark.timeout(420)  # the recovery accuracy run adds ~30 s to the bench
def test_bench_prints_every_figure_as_json_on_the_last_line() -> None:
    if shutil.which("k6") is None:
        missing_component("k6 not on PATH: build it with `bash .ci/bootstrap --bench`")
    done = subprocess.run(
        [sys.executable, "-m", "chaosgate", "bench", "--json", "--duration-s", "2"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(figures, indent=1))
    for key in ("fidelity_error_ms", "co_p99_error_pct", "rss_mb_per_worker"):
        assert isinstance(figures[key], int | float), key
    for key in RATIOS:  # each measured against its peer in this same run
        assert isinstance(figures[key], int | float), (key, figures.get("k6_error"))
    assert 0 < figures["engine_cpu_percent_at_max_rps"] <= 100 * 1.1  # one worker, one core
    assert figures["engine_vs_k6_cpu"] >= K6_CPU_RATIO_MIN
    assert figures["engine_vs_locust"] >= LOCUST_RATIO_MIN
    assert figures["engine_vs_k6"] >= K6_RATIO_MIN
    assert figures["co_p99_measured_ms"] > 500  # the 1 s stall is visible
    assert figures["co_p99_closed_loop_ms"] * 5 < figures["co_p99_measured_ms"]  # ...hidden here
    assert set(figures["locust_closed_rps_by_users"]) == {"1", "20", "20 again", "100"}
    assert figures["rss_mb_per_worker"] > 10
    # the targets, checked (not only printed)
    assert figures["fidelity_error_ms"] <= FIDELITY_TARGET_MS + FIDELITY_NOISE_MS
    assert figures["co_p99_error_pct"] <= CO_ERROR_TARGET_PCT + CO_ERROR_NOISE_PCT
    assert figures["recovery_error_s"] is not None, figures["recovery_measured_s"]
    assert figures["recovery_error_s"] <= SLICE_S  # the resolution recovery is judged at
