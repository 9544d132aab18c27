"""What the store keeps of one run: per scenario its definition hash, each KPI's value, n and
verdict, and one merged HDR histogram per window per request name (baseline, fault:X,
recovery:X, whole), so later runs are judged against exact per-run distributions."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from reports import hdr
from reports.kpi_eval import window_spans
from reports.model import RunResult, ScenarioResult


@dataclass(frozen=True)
class KpiRow:
    expression: str
    window: str
    unit: str
    comparator: str
    threshold: float
    measured: float | None
    samples: int | None
    status: str  # pass | fail | insufficient


@dataclass(frozen=True)
class WindowHistogram:
    window: str
    request: str
    count: int
    histogram: str  # HDR, microseconds, encoded


@dataclass(frozen=True)
class ScenarioRecord:
    name: str
    definition_hash: str
    status: str
    kpis: list[KpiRow] = field(default_factory=list)
    histograms: list[WindowHistogram] = field(default_factory=list)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    started_at: float
    status: str
    sut_version: str | None
    commit: str | None
    hostname: str
    chaosgate_version: str
    label: str | None
    scenarios: list[ScenarioRecord]


def definition_hash(scenario: ScenarioResult) -> str:
    """sha256 of the validated scenario as canonical JSON, without `stack.sut_overrides`: those
    configure the service under test (a weakened SUT is another SUT, like another version), not
    what the scenario does to it. Without a definition (old results, `chaosgate load`), of the
    scenario's name: such runs compare only with runs of that name."""
    definition: Any = (
        scenario.scenario if scenario.scenario is not None else {"name": scenario.name}
    )
    stack = definition.get("stack")
    if isinstance(stack, dict) and "sut_overrides" in stack:
        kept = {key: value for key, value in stack.items() if key != "sut_overrides"}
        definition = {**definition, "stack": kept}
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def window_histograms(scenario: ScenarioResult) -> list[WindowHistogram]:
    """One merged histogram per (window, request name); slices belong to a window by their
    middle, as the KPIs select them."""
    windows = ["whole", *dict.fromkeys(p.name for p in scenario.phases)]
    merged: dict[tuple[str, str], list[str]] = defaultdict(list)
    for window in windows:
        spans = window_spans(window, scenario.phases, scenario.duration_s)
        for bucket in scenario.series:
            if any(start <= bucket.mid_s < end for start, end in spans):
                merged[(window, bucket.name)].append(bucket.histogram)
    rows = []
    for (window, request), encoded in merged.items():
        histogram = hdr.merge(encoded)
        if histogram.get_total_count():
            rows.append(
                WindowHistogram(window, request, histogram.get_total_count(), hdr.encode(histogram))
            )
    return rows


def run_record(result: RunResult, label: str | None = None) -> RunRecord:
    scenarios = [
        ScenarioRecord(
            name=s.name,
            definition_hash=definition_hash(s),
            status=s.status,
            kpis=[
                KpiRow(
                    k.expression,
                    k.window,
                    k.unit,
                    k.comparator,
                    k.threshold,
                    k.measured,
                    k.samples,
                    k.status,
                )
                for k in s.kpis
            ],
            histograms=window_histograms(s),
        )
        for s in result.scenarios
    ]
    return RunRecord(
        run_id=result.run.run_id,
        started_at=result.run.started_at,
        status=result.status,
        sut_version=result.target.version if result.target else None,
        commit=result.run.commit,
        hostname=result.run.machine.hostname,
        chaosgate_version=result.run.chaosgate_version,
        label=label,
        scenarios=scenarios,
    )
