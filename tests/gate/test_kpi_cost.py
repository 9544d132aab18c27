"""amplification(edge) and returns(series): their arithmetic, their verdicts on synthetic
results, their validation (exit 2 at file:line), and the probe readers behind their series.
Pure logic: no stack."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from chaosgate.cli import main
from chaosgate.errors import EXIT_BAD_INPUT, ScenarioError
from fixtures.faults.sut_metrics import Samples
from fixtures.signals import reference_signals
from fixtures.stack import Address
from reports import hdr, kpi_cost
from reports.kpi_eval import evaluate
from reports.kpi_parse import parse_kpi
from reports.model import SLICES_PER_S, Phase, ProbeSample, ScenarioResult, SliceBucket
from scenarios.loader import load_scenario
from scenarios.probes import metric_series
from scenarios.resources import ResourceProbe, container_pid, established_to, toxiproxy_bytes

pytestmark = pytest.mark.unit

DASH = "GET /api/dashboard/performance"
ITEMS = "GET /api/items"


def bucket(second: float, n: int, name: str) -> SliceBucket:
    histogram = hdr.new_histogram()
    for _ in range(n):
        histogram.record_value(5000)
    return SliceBucket(slice=int(second * SLICES_PER_S), name=name, count=n, errors=0,
                       histogram=hdr.encode(histogram))  # fmt: skip


def result(probes: list[ProbeSample], series: list[SliceBucket] | None = None) -> ScenarioResult:
    phases = [
        Phase(name="baseline", kind="baseline", start_s=0, end_s=20),
        Phase(name="fault:f", kind="fault", start_s=20, end_s=30, fault="f"),
        Phase(name="recovery:f", kind="recovery", start_s=30, end_s=50, fault="f"),
    ]
    return ScenarioResult(name="s", status="pass", t0=0.0, duration_s=50, phases=phases,
                          series=series or [], probes=probes)  # fmt: skip


def counter(name: str, per_s: float, until_s: float = 50, start: float = 0.0) -> list[ProbeSample]:
    """A cumulative counter sampled every 0.5 s, rising `per_s` a second."""
    return [
        ProbeSample(t_s=t / 2, name=name, value=start + per_s * t / 2)
        for t in range(int(until_s * 2))
    ]


def load(rps_dash: int, rps_items: int, until_s: int = 50) -> list[SliceBucket]:
    """Requests spread evenly over every slice (rates divisible by SLICES_PER_S)."""
    out = []
    for index in range(until_s * SLICES_PER_S):
        second = index / SLICES_PER_S
        out += [bucket(second, rps_dash // SLICES_PER_S, DASH),
                bucket(second, rps_items // SLICES_PER_S, ITEMS)]  # fmt: skip
    return out


# -- arithmetic -------------------------------------------------------------------------------
def test_a_counter_that_drops_was_restarted_and_counts_from_zero() -> None:
    increase = kpi_cost.counter_increase([(0, 100), (1, 110), (2, 3), (3, 8)])
    assert increase is not None
    assert (increase.calls, increase.start_s, increase.end_s) == (18, 0, 3)
    assert kpi_cost.counter_increase([(0, 5)]) is None


def test_the_pre_fault_band_is_its_range_widened_by_the_tolerance() -> None:
    points = [(t, v) for t, v in zip((15, 16, 17, 18, 19), (2, 3, 2, 4, 2), strict=True)]
    band = kpi_cost.pre_fault_band(points, injected_s=20)
    assert band is not None
    assert (band.level, band.high) == (2, 5)
    assert band.holds(0)
    assert not band.holds(5.5)
    big = kpi_cost.pre_fault_band([(t, 200.0) for t in (16, 17, 18)], injected_s=20)
    assert big is not None
    assert big.high == 220
    assert kpi_cost.pre_fault_band([(19, 1.0), (19.5, 1.0)], injected_s=20) is None


def test_a_series_is_back_at_the_first_of_three_samples_in_the_band() -> None:
    band = kpi_cost.Band(level=1, high=2, samples=10)
    points = [(30.0, 9), (30.5, 1), (31.0, 9), (31.5, 2), (32.0, 1), (32.5, 0), (33.0, 9)]
    back = kpi_cost.returned(band, points, removed_s=30, end_s=50)
    assert back.after_s == 1.5
    never = kpi_cost.returned(band, [(30.0 + t / 2, 9) for t in range(20)], 30, 50)
    assert never.after_s is None
    assert never.observed_s == 9.5
    assert never.last == 9


# -- amplification ----------------------------------------------------------------------------
def test_amplification_is_calls_per_request_of_the_window() -> None:
    """8 dashboard + 32 items requests a second; the warehouse sees 4 calls a second."""
    res = result(counter("calls.warehouse", 4), load(8, 32))
    per_dash = evaluate(parse_kpi(f"amplification(warehouse, {DASH}) < 0.6 during baseline"), res)
    assert per_dash.status == "pass"
    assert per_dash.measured == pytest.approx(0.5, rel=0.02)
    per_all = evaluate(parse_kpi("amplification(warehouse) < 0.1 during baseline"), res)
    assert per_all.status == "fail"
    assert per_all.measured == pytest.approx(0.1, rel=0.02)
    assert "calls on warehouse per" in per_all.message


def test_amplification_needs_requests_and_two_counter_samples() -> None:
    few = result(counter("calls.warehouse", 5), load(4, 0, until_s=20))
    verdict = evaluate(parse_kpi(f"amplification(warehouse, {DASH}) < 1 during baseline"), few)
    assert verdict.status == "insufficient"
    assert verdict.needed == 100
    unread = result([ProbeSample(t_s=1, name="calls.warehouse", value=3)], load(8, 32))
    verdict = evaluate(parse_kpi("amplification(warehouse) < 1 during baseline"), unread)
    assert verdict.status == "insufficient"
    assert "no increase to read" in verdict.message
    idle = result(counter("calls.warehouse", 5), [])
    assert (
        evaluate(parse_kpi("amplification(warehouse) < 1 during baseline"), idle).status == "fail"
    )


def test_a_breaker_that_stops_calls_holds_and_one_that_does_not_fails() -> None:
    healthy = counter("calls.postgres", 20, until_s=20)
    healthy += [ProbeSample(t_s=20 + t / 2, name="calls.postgres", value=400) for t in range(60)]
    weak = counter("calls.postgres", 20)
    kpi = parse_kpi("amplification(postgres) < 0.1 during fault:f")
    assert evaluate(kpi, result(healthy, load(8, 32))).status == "pass"
    assert evaluate(kpi, result(weak, load(8, 32))).status == "fail"


# -- returns ----------------------------------------------------------------------------------
def pool(after_removal: Sequence[float]) -> list[ProbeSample]:
    """in_use: 1-2 before the fault, 10 during it, then `after_removal` every 0.5 s from 30 s."""
    before = [
        ProbeSample(t_s=t / 2, name="pool.postgres.in_use", value=1 + t % 2) for t in range(40)
    ]
    during = [ProbeSample(t_s=20 + t / 2, name="pool.postgres.in_use", value=10) for t in range(20)]
    after = [
        ProbeSample(t_s=30 + i / 2, name="pool.postgres.in_use", value=v)
        for i, v in enumerate(after_removal)
    ]
    return before + during + after


def test_returns_measures_from_the_removal_to_back_in_the_band() -> None:
    kpi = parse_kpi("returns(pool.postgres.in_use) < 10s during recovery:f")
    verdict = evaluate(kpi, result(pool([10, 10, 8, 2, 1, 2, 1, 1] + [1] * 20)))
    assert verdict.status == "pass"
    assert verdict.measured == 1.5
    assert verdict.samples == 10
    assert "pre-fault median" in verdict.message


def test_a_leaked_connection_never_returns_and_fails() -> None:
    kpi = parse_kpi("returns(pool.postgres.in_use) < 10s during recovery:f")
    verdict = evaluate(kpi, result(pool([10] * 30)))
    assert verdict.status == "fail"
    assert "not back in <= 3" in verdict.message
    assert "last value 10" in verdict.message


def test_returns_with_too_little_seen_is_insufficient_never_a_verdict() -> None:
    kpi = parse_kpi("returns(pool.postgres.in_use) < 10s during recovery:f")
    short = evaluate(kpi, result(pool([10] * 6)))  # 2.5 s seen after removal, still high
    assert short.status == "insufficient"
    assert "only 2.5 s were seen" in short.message
    no_before = [p for p in pool([1] * 30) if p.t_s >= 20]
    assert evaluate(kpi, result(no_before)).status == "insufficient"


# -- validation -------------------------------------------------------------------------------
SCENARIO = """\
name: cost
seed: 7
load:
  users: [api, dashboard]
  rate:
    - {ramp_to_rps: 40, over_s: 2s}
    - {hold_s: 40s}
faults:
  - {name: pg-down, at_s: 8, for_s: 10s, target: postgres, fault: down}
kpis:
  - p95(*) < 200ms during baseline
  - KPI
"""


def write(tmp_path: Path, kpi: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.replace("KPI", kpi))
    return path


@pytest.mark.parametrize(
    "kpi",
    [
        "amplification(warehouse) < 0.2 during baseline",
        f"amplification(warehouse, {DASH}) < 0.8 during baseline",
        "amplification(postgres) < 0.1 during fault:pg-down",
        "returns(pool.postgres.in_use) < 10s during recovery:pg-down",
        "returns(edge.postgres.open) <= 10s during recovery:pg-down",
        "returns(proc.backend.rss_mb) < 10s during recovery:pg-down",
        "max(edge.redis.open) < 40 during fault:pg-down",
        "slope(proc.backend.rss_mb) < 20 per hour",
        "slope(proc.backend.fds) < 1 per minute during baseline",
    ],
)
def test_good_cost_kpis_validate(tmp_path: Path, kpi: str) -> None:
    assert load_scenario(write(tmp_path, kpi)).kpis[1].kpi.text == kpi


@pytest.mark.parametrize(
    ("kpi", "expected"),
    [
        ("amplification(snowflake) < 0.2 during baseline", "'snowflake' is no edge whose calls"),
        ("amplification(client) < 0.2 during baseline", "'client' is no edge"),
        ("amplification(warehouse, GET /nope) < 1", "'GET /nope' is no request its users send"),
        ("returns(pool.pg.in_use) < 10s during recovery:pg-down", "'pool.pg.in_use' is no probe"),
        (
            "returns(pool.postgres.in_use) < 10s during recovery:pg-up",
            "fault 'pg-up', which is not",
        ),
        ("returns(pool.postgres.in_use) < 10s during fault:pg-down", "during recovery:FAULT"),
        ("returns(pool.postgres.in_use) < 10s", "during recovery:FAULT"),
        ("returns(pool.postgres.in_use) > 10s during recovery:pg-down", "during recovery:FAULT"),
        ("returns(pool.postgres.in_use) < 10 during recovery:pg-down", "needs a unit"),
        ("returns(pool.postgres.in_use) < 30s during recovery:pg-down", "watches only 24s"),
        ("slope(proc.sut.rss_mb) < 20 per hour", "'proc.sut.rss_mb' is no probe series"),
    ],
)
def test_bad_cost_kpis_are_bad_input_at_file_line(tmp_path: Path, kpi: str, expected: str) -> None:
    with pytest.raises(ScenarioError, match=r":12: .*") as raised:
        load_scenario(write(tmp_path, kpi))
    assert expected in str(raised.value)


def test_a_cost_kpi_typo_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "returns(pool.postgres.inuse) < 10s during recovery:pg-down")
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), "--check"])
    assert exited.value.code == EXIT_BAD_INPUT
    assert f"{path}:12: kpis.1" in capsys.readouterr().err


def test_the_load_does_not_end_early_before_returns_has_seen_its_seconds(
    tmp_path: Path,
) -> None:
    """Old code: the load ended once the SUT had recovered, 9.9 s after the removal, and
    `returns(...) < 10s` on a leaked pool was insufficient (INVALID) instead of FAIL."""
    scenario = load_scenario(
        write(tmp_path, "returns(pool.postgres.in_use) < 10s during recovery:pg-down")
    )
    assert scenario.watched_until_s() == 18 + 10 + 1
    assert load_scenario(write(tmp_path, "count(*) > 0")).watched_until_s() == 0


def test_cost_kpis_are_no_steady_state_checks(tmp_path: Path) -> None:
    """A baseline amplification is judged on the whole window, never per recovery slice."""
    scenario = load_scenario(write(tmp_path, "amplification(redis) < 2 during baseline"))
    assert [k.function for k in scenario.steady_checks()] == ["p95"]
    text = SCENARIO.replace("kpis:", "steady_state: ['amplification(redis) < 2']\nkpis:")
    path = tmp_path / "steady.yaml"
    path.write_text(text.replace("KPI", "count(*) > 0"))
    with pytest.raises(ScenarioError, match="steady-state check must be windowed"):
        load_scenario(path)


# -- probe readers ----------------------------------------------------------------------------
TOXIPROXY_METRICS = """\
# HELP toxiproxy_proxy_received_bytes_total x
# TYPE toxiproxy_proxy_received_bytes_total counter
toxiproxy_proxy_received_bytes_total{direction="downstream",listener="127.0.0.1:18476",proxy="e",upstream="127.0.0.1:18475"} 100
toxiproxy_proxy_received_bytes_total{direction="upstream",listener="127.0.0.1:18476",proxy="e",upstream="127.0.0.1:18475"} 50
toxiproxy_proxy_received_bytes_total{direction="upstream",listener="127.0.0.1:1",proxy="other",upstream="127.0.0.1:2"} 7
# HELP toxiproxy_proxy_sent_bytes_total x
# TYPE toxiproxy_proxy_sent_bytes_total counter
toxiproxy_proxy_sent_bytes_total{direction="upstream",listener="127.0.0.1:18476",proxy="e",upstream="127.0.0.1:18475"} 50
"""


def test_toxiproxy_byte_counters_become_edge_series() -> None:
    """The text is what toxiproxy-server 2.12 -proxy-metrics served after one connection of
    50 bytes up and 100 down CLOSED (while it was open: no proxy sample at all)."""
    assert toxiproxy_bytes(TOXIPROXY_METRICS, ["e"]) == {
        "edge.e.bytes_up": 50.0,
        "edge.e.bytes_down": 100.0,
    }


def test_established_connections_are_counted_per_remote_port(tmp_path: Path) -> None:
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue\n"
        "   0: 0100007F:9C40 0100007F:6338 01 00000000:00000000\n"  # -> :25400 established
        "   1: 0100007F:9C41 0100007F:6338 01 00000000:00000000\n"
        "   2: 0100007F:9C42 0100007F:6338 06 00000000:00000000\n"  # TIME_WAIT: not counted
        "   3: 0100007F:6338 0100007F:9C40 01 00000000:00000000\n"  # the proxy's own side
        "   4: 0100007F:9C43 0100007F:18EB 01 00000000:00000000\n"  # -> :6379
    )
    assert established_to([25400, 6379, 5432], [table, tmp_path / "absent"]) == {
        25400: 2,
        6379: 1,
        5432: 0,
    }


def test_the_reference_profile_reads_calls_per_dependency() -> None:
    metrics = reference_signals().metrics
    assert metrics is not None
    samples: Samples = {
        ("sut_dependency_calls_total", (("dependency", "warehouse"),)): 12.0,
        ("sut_dependency_calls_created", (("dependency", "warehouse"),)): 1.7e9,
    }
    assert metric_series(metrics, samples) == {"calls.warehouse": 12.0}


def test_a_resource_probe_counts_open_connections_and_reads_its_processes() -> None:
    """A real listener on loopback as the 'proxy', two clients connected to it, and this test's
    own process as the stack's 'backend' (as a started process: `.process.pid`)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    accepted = [server.accept()[0] for _ in clients]
    backend = SimpleNamespace(process=SimpleNamespace(pid=os.getpid()))
    gone = SimpleNamespace(process=SimpleNamespace(pid=None))
    probe = ResourceProbe(None, {"db": Address("127.0.0.1", port)}, {"backend": backend, "x": gone})
    try:
        with httpx.Client() as client:
            found = probe.sample(client)
    finally:
        for sock in [*clients, *accepted, server]:
            sock.close()
    assert found["edge.db.open"] == 2
    assert found["proc.backend.rss_mb"] > 1
    assert found["proc.backend.fds"] >= 5  # at least the sockets above and stdio
    assert found["proc.backend.cpu_s"] >= 0  # a counter: CPU seconds used so far
    assert not any(name.startswith("proc.x.") for name in found)


def test_a_container_is_read_only_when_its_pid_is_in_this_machine_s_cgroups() -> None:
    own = Path("/proc/self/cgroup").read_text().splitlines()[0]

    def container(ident: str) -> SimpleNamespace:
        return SimpleNamespace(id=ident, attrs={"State": {"Pid": os.getpid()}}, reload=lambda: None)

    assert container_pid(container(own)) == os.getpid()
    assert container_pid(container("a-remote-engine-s-container")) is None
