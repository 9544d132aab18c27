"""Write the recorded result fixtures `tests/reports/result_*.json` (deterministic, seeded).

    .venv/bin/python tests/reports/make_fixtures.py

Real HDR histograms with realistic shapes: a log-normal baseline, a fault window in which
latency rises and errors appear (breaker opens, readiness drops), then a recovery that decays
back to the baseline. Three runs: one that passes, one that fails its KPIs (and loses WebSocket
messages), one that is invalid because the load generator fell behind. The KPI verdicts here
stand in for what the gate records; the reports only render them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from reports import hdr
from reports.model import (
    SLICES_PER_S,
    Event,
    GeneratorHealth,
    KpiVerdict,
    Machine,
    Phase,
    ProbeSample,
    RecoveryMeasure,
    RunMetadata,
    RunResult,
    ScenarioResult,
    SliceBucket,
    Status,
    WebSocketSummary,
)

HERE = Path(__file__).parent
DASHBOARD = "GET /api/dashboard/performance"
ITEMS = "GET /api/items"
FAULT = "postgres-latency"
BASELINE_END, FAULT_END, END = 20, 40, 60


@dataclass(frozen=True)
class Shape:
    fault_added_ms: float  # latency the fault adds to requests that touch Postgres
    fault_error_rate: float
    recovery_tau_s: float  # how fast latency decays back after the fault is removed
    rps: int  # per endpoint


def _latency_us(rng: random.Random, median_ms: float, extra_ms: float) -> int:
    value_ms = rng.lognormvariate(math.log(median_ms), 0.45) + extra_ms * rng.uniform(0.8, 1.25)
    return max(1, int(value_ms * 1000))


def _series(rng: random.Random, shape: Shape) -> list[SliceBucket]:
    buckets = []
    for second in range(END):
        for name, median_ms, coupling in ((DASHBOARD, 9.0, 1.0), (ITEMS, 3.5, 0.35)):
            extra, error_rate = 0.0, 0.002
            if BASELINE_END <= second < FAULT_END:
                extra = shape.fault_added_ms * coupling
                error_rate = shape.fault_error_rate * coupling
            elif second >= FAULT_END:
                decay = math.exp(-(second - FAULT_END) / shape.recovery_tau_s)
                extra = shape.fault_added_ms * coupling * decay
                error_rate = max(0.002, shape.fault_error_rate * coupling * decay)
            histogram = hdr.new_histogram()
            count = shape.rps + rng.randint(-3, 3)
            errors = sum(rng.random() < error_rate for _ in range(count))
            for _ in range(count):
                histogram.record_value(_latency_us(rng, median_ms, extra))
            kinds = {"503 breaker open": errors - errors // 3, "504 timeout": errors // 3}
            buckets.append(
                SliceBucket(  # one slice per second: small fixtures, coarser but valid
                    slice=second * SLICES_PER_S,
                    name=name,
                    count=count,
                    errors=errors,
                    error_kinds={k: v for k, v in kinds.items() if v},
                    histogram=hdr.encode(histogram),
                )
            )
    return buckets


def _probes(breaker_open_s: float, recovered_s: float) -> list[ProbeSample]:
    probes = []
    for tick in range(0, END * 2):
        t = tick / 2
        probes.append(
            ProbeSample(
                t_s=t, name="ready", value=0.0 if breaker_open_s <= t < recovered_s else 1.0
            )
        )
        state = "closed"
        if breaker_open_s <= t < FAULT_END + 5:
            state = "open"
        elif FAULT_END + 5 <= t < recovered_s:
            state = "half-open"
        probes.append(ProbeSample(t_s=t, name="breaker.postgres", value=state))
        in_use = 9.0 if BASELINE_END <= t < FAULT_END else 2.0
        probes.append(ProbeSample(t_s=t, name="pool.postgres.in_use", value=in_use))
    return probes


def _window(series: list[SliceBucket], name: str | None, start: int, end: int) -> list[SliceBucket]:
    return [b for b in series if start <= b.mid_s < end and (name is None or b.name == name)]


def _verdict(
    expression: str,
    window: str,
    measured: float,
    threshold: float,
    comparator: str,
    unit: str,
    breached_at_s: float
    | None = 27.0,  # when the gate first saw the breach (stands in for its record)
) -> KpiVerdict:
    holds = {"<": measured < threshold, "<=": measured <= threshold, "==": measured == threshold}[
        comparator
    ]
    margin = -abs(measured - threshold) if comparator == "==" else threshold - measured
    return KpiVerdict(
        expression=expression,
        window=window,
        measured=round(measured, 3),
        threshold=threshold,
        comparator=comparator,
        unit=unit,
        passed=holds,
        margin=round(margin, 3),
        breached_at_s=None if holds else breached_at_s,
    )


def _latency_scenario(rng: random.Random, shape: Shape, recovered_s: float) -> ScenarioResult:
    series = _series(rng, shape)
    base = hdr.merge(b.histogram for b in _window(series, DASHBOARD, 0, BASELINE_END))
    during = hdr.merge(b.histogram for b in _window(series, DASHBOARD, BASELINE_END, FAULT_END))
    fault_buckets = _window(series, None, BASELINE_END, FAULT_END)
    error_pct = 100 * sum(b.errors for b in fault_buckets) / sum(b.count for b in fault_buckets)
    window = f"fault:{FAULT}"
    kpis = [
        _verdict(
            f"p95({DASHBOARD}) < 50ms during baseline",
            "baseline",
            base.get_value_at_percentile(95) / 1000,
            50,
            "<",
            "ms",
        ),
        _verdict(
            f"p99({DASHBOARD}) < 600ms during {window}",
            window,
            during.get_value_at_percentile(99) / 1000,
            600,
            "<",
            "ms",
        ),
        _verdict(f"error_rate < 5% during {window}", window, error_pct, 5, "<", "%"),
        _verdict(
            f"recovery < 15s after {FAULT}",
            f"recovery:{FAULT}",
            recovered_s - FAULT_END,
            15,
            "<",
            "s",
            breached_at_s=FAULT_END + 15,
        ),
    ]
    failed = not all(k.passed for k in kpis)
    return ScenarioResult(
        name="postgres-latency",
        description="Postgres answers 300 ms late for 20 s; the dashboard must degrade, not fail.",
        status="fail" if failed else "pass",
        t0=1795000000.0,
        duration_s=END,
        phases=[
            Phase(name="baseline", kind="baseline", start_s=0, end_s=BASELINE_END, fault=None),
            Phase(name=window, kind="fault", start_s=BASELINE_END, end_s=FAULT_END, fault=FAULT),
            Phase(
                name=f"recovery:{FAULT}", kind="recovery", start_s=FAULT_END, end_s=END, fault=FAULT
            ),
        ],
        events=[
            Event(
                t_s=BASELINE_END,
                kind="fault.inject",
                target="postgres",
                message=f"latency +{shape.fault_added_ms:g} ms",
                attributes={"latency_ms": shape.fault_added_ms},
            ),
            Event(
                t_s=BASELINE_END + 0.4,
                kind="fault.verified",
                target="postgres",
                message="probe query slowed",
            ),
            Event(t_s=FAULT_END, kind="fault.remove", target="postgres", message="toxic removed"),
        ],
        series=series,
        probes=_probes(BASELINE_END + 3.0, recovered_s),
        generator=GeneratorHealth(
            intended_rate=2 * shape.rps,
            achieved_rate=2 * shape.rps - 0.4,
            scheduled=2 * shape.rps * END,
            sent=2 * shape.rps * END - 24,
            max_lag_ms=11.2,
            p99_lag_ms=3.1,
            late_fraction=0.001,
            tolerance_ms=50,
            cpu_percent_max=41.0,
            workers=1,
            rss_mb_max=88.5,
            valid=True,
        ),
        recoveries=[
            RecoveryMeasure(
                fault=FAULT,
                injected_at_s=BASELINE_END,
                removed_at_s=FAULT_END,
                detected_at_s=BASELINE_END + 3.0,
                detected_by="breaker.postgres",
                recovered_at_s=recovered_s,
                search_end_s=END,
            )
        ],
        kpis=kpis,
    )


def _ws_scenario(rng: random.Random, lost: int) -> ScenarioResult:
    latency = hdr.new_histogram()
    for _ in range(2000):
        latency.record_value(_latency_us(rng, 4.0, 0.0))
    sent = 2000
    lost_ids = [f"c3-m{1400 + i}" for i in range(lost)]
    kpi = _verdict("lost(ws) == 0", "whole", float(lost), 0, "==", "count", breached_at_s=None)
    return ScenarioResult(
        name="ws-backend-restart",
        description="The backend restarts mid-stream; every acknowledged message must still arrive.",
        status="pass" if kpi.passed else "fail",
        t0=1795000100.0,
        duration_s=30,
        phases=[
            Phase(name="baseline", kind="baseline", start_s=0, end_s=10, fault=None),
            Phase(
                name="fault:backend-restart",
                kind="fault",
                start_s=10,
                end_s=14,
                fault="backend-restart",
            ),
            Phase(
                name="recovery:backend-restart",
                kind="recovery",
                start_s=14,
                end_s=30,
                fault="backend-restart",
            ),
        ],
        events=[
            Event(t_s=10, kind="fault.inject", target="backend", message="SIGKILL"),
            Event(t_s=14, kind="fault.remove", target="backend", message="restarted"),
        ],
        generator=GeneratorHealth(
            intended_rate=70,
            achieved_rate=69.8,
            scheduled=2100,
            sent=2096,
            max_lag_ms=8.0,
            p99_lag_ms=2.2,
            late_fraction=0.0,
            tolerance_ms=50,
            cpu_percent_max=22.0,
            workers=1,
            rss_mb_max=71.0,
            valid=True,
        ),
        websocket=WebSocketSummary(
            sent=sent,
            acknowledged=sent - 3,
            received=sent - 3 - lost + 5,
            lost=lost_ids,
            duplicated=["c1-m77", "c1-m78"],
            reconnects=10,
            latency_histogram=hdr.encode(latency),
        ),
        recoveries=[
            RecoveryMeasure(
                fault="backend-restart",
                injected_at_s=10,
                removed_at_s=14,
                detected_at_s=10.2,
                detected_by="ready",
                recovered_at_s=16.5,
                search_end_s=30,
                restart_s=1.8,
            )
        ],
        kpis=[kpi],
    )


def _metadata(run_id: str, seed: int) -> RunMetadata:
    return RunMetadata(
        run_id=run_id,
        started_at=1795000000.0,
        ended_at=1795000135.0,
        chaosgate_version="0.1.0",
        commit="3f9c2d1e8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d",
        command="chaosgate run --suite release",
        backend="local",
        seed=seed,
        machine=Machine(
            hostname="ci-runner-7",
            platform="Linux-6.1.0-x86_64-with-glibc2.36",
            python="3.11.2",
            cpus=2,
            memory_gb=7.8,
        ),
        versions={
            "chaosgate": "0.1.0",
            "locust": "2.40.5",
            "hdrhistogram": "0.10.8",
            "postgres": "15.8",
            "redis": "7.0.15",
            "toxiproxy": "2.12.0",
        },
    )


def build(kind: str) -> RunResult:
    rng = random.Random(f"chaosgate-fixture-{kind}")
    if kind == "pass":
        scenarios = [
            _latency_scenario(rng, Shape(300, 0.03, 2.0, 40), 46.0),
            _ws_scenario(rng, lost=0),
        ]
    elif kind == "fail":
        scenarios = [
            _latency_scenario(rng, Shape(900, 0.12, 6.0, 40), 58.0),
            _ws_scenario(rng, lost=3),
        ]
    else:
        scenario = _latency_scenario(rng, Shape(300, 0.03, 2.0, 40), 46.0)
        assert scenario.generator is not None
        reason = "generator behind: 31% of sends started > 50 ms late (achieved 55.2 of 80 rps)"
        scenario.generator = scenario.generator.model_copy(
            update={
                "achieved_rate": 55.2,
                "sent": 3312,
                "max_lag_ms": 2400.0,
                "p99_lag_ms": 1900.0,
                "late_fraction": 0.31,
                "cpu_percent_max": 99.0,
                "valid": False,
                "reason": reason,
            }
        )
        scenario.status, scenario.invalid_reason = "invalid", reason
        scenarios = [scenario]
    status: Status = (
        "invalid"
        if kind == "invalid"
        else ("fail" if any(s.status == "fail" for s in scenarios) else "pass")
    )
    exit_code = {"pass": 0, "fail": 1, "invalid": 3}[status]
    return RunResult(
        run=_metadata(f"2026-11-23T21-00-00-{kind}", 42),
        status=status,
        exit_code=exit_code,
        scenarios=scenarios,
    )


def main() -> None:
    for kind in ("pass", "fail", "invalid"):
        path = HERE / f"result_{kind}.json"
        path.write_text(build(kind).model_dump_json(indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
