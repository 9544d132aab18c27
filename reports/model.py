"""The versioned result of a run: the one source of truth that KPI checks and reports read.

Times inside a scenario are seconds from the scenario's `t0` (a Unix time), so slices,
phases and events line up without clock arithmetic. Latency histograms are per request name
per slice of INTENDED send time (`SLICE_S` long), HDR-encoded (see `reports.hdr`), in
microseconds. Slices finer than a second let recovery resolve to ±`SLICE_S`.
`RunResult.model_json_schema()` is published as `reports/result.schema.json`.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SchemaVersion = Literal["chaosgate.result/2"]
SCHEMA_VERSION: SchemaVersion = "chaosgate.result/2"

SLICE_S = 0.25  # width of one bucket of intended send time; one second holds SLICES_PER_S
SLICES_PER_S = round(1 / SLICE_S)

Status = Literal["pass", "fail", "invalid"]
PhaseKind = Literal["baseline", "fault", "recovery"]
AttributeValue = str | int | float | bool | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Machine(_Model):
    hostname: str
    platform: str
    python: str
    cpus: int
    memory_gb: float


class RunMetadata(_Model):
    run_id: str
    started_at: float = Field(description="Unix time")
    ended_at: float = Field(description="Unix time")
    chaosgate_version: str
    commit: str | None = None
    command: str = ""
    backend: str = Field("", description="local | containers | external")
    seed: int | None = None
    machine: Machine
    versions: dict[str, str] = Field(default_factory=dict, description="package -> version")


class Phase(_Model):
    name: str = Field(description="baseline | fault:<name> | recovery:<name>")
    kind: PhaseKind
    start_s: float
    end_s: float
    fault: str | None = Field(None, description="the fault's name for fault and recovery phases")


class Event(_Model):
    t_s: float
    kind: str = Field(description="e.g. fault.inject, fault.verified, fault.remove, abort, note")
    target: str = ""
    message: str = ""
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)


class SliceBucket(_Model):
    """Everything one request name did in one slice: the requests INTENDED to be sent in
    [slice * SLICE_S, (slice + 1) * SLICE_S) of the scenario clock."""

    slice: int = Field(ge=0, description=f"index; the slice spans [slice, slice + 1) x {SLICE_S} s")
    name: str = Field(description='request name, e.g. "GET /api/dashboard/performance"')
    count: int = Field(ge=0, description="requests completed (successes and errors)")
    errors: int = Field(ge=0)
    error_kinds: dict[str, int] = Field(default_factory=dict)
    histogram: str = Field(description="HDR, microseconds, latency from the intended start")

    @property
    def start_s(self) -> float:
        return self.slice * SLICE_S

    @property
    def mid_s(self) -> float:
        """Windows select slices by their middle: a slice belongs to [start, end) if this is in it."""
        return (self.slice + 0.5) * SLICE_S

    @property
    def end_s(self) -> float:
        return (self.slice + 1) * SLICE_S


def slice_of(t_s: float) -> int:
    """The slice a scenario time falls in (times before 0 fall in slice 0)."""
    return max(math.floor(t_s / SLICE_S), 0)


class ProbeSample(_Model):
    """A reading of the SUT's state (readiness, breaker state, pool use) at one time."""

    t_s: float
    name: str = Field(description='e.g. "ready", "breaker.postgres", "pool.postgres.in_use"')
    value: float | str


class GeneratorHealth(_Model):
    intended_rate: float = Field(description="requests per second the schedule asked for")
    achieved_rate: float
    scheduled: int = Field(ge=0)
    sent: int = Field(ge=0)
    max_lag_ms: float = Field(description="worst send start after its intended time")
    p99_lag_ms: float
    late_fraction: float = Field(ge=0, le=1, description="sends later than the tolerance")
    tolerance_ms: float
    cpu_percent_max: float
    workers: int = Field(ge=1)
    rss_mb_max: float = 0.0
    valid: bool
    reason: str | None = None


class WebSocketSummary(_Model):
    sent: int = Field(ge=0)
    acknowledged: int = Field(ge=0)
    received: int = Field(ge=0)
    lost: list[str] = Field(default_factory=list, description="acknowledged but never received")
    duplicated: list[str] = Field(default_factory=list)
    unexpected: list[str] = Field(default_factory=list)
    reconnects: int = 0
    latency_histogram: str | None = Field(None, description="HDR µs, send -> receive")

    @property
    def delivered_ratio(self) -> float:
        return 1.0 if self.sent == 0 else (self.sent - len(self.lost)) / self.sent


class RecoveryMeasure(_Model):
    """One fault's clock: injected (the inject command issued), removed (the undo issued; for
    `restart` the start command), detected, recovered (start of the first healthy run)."""

    fault: str
    injected_at_s: float
    removed_at_s: float
    detected_at_s: float | None = None
    detected_by: str | None = Field(
        None, description='the signal: "ready", "breaker.<dep>" or "steady: <check>"'
    )
    recovered_at_s: float | None = None
    search_end_s: float | None = Field(
        None, description="where the search for recovery stopped (next injection or run end)"
    )
    cut_short_by: str | None = Field(
        None, description="the fault whose injection ended the search before recovery was seen"
    )
    restart_s: float | None = Field(
        None, description="process faults: the restart's own duration, start command to ready"
    )

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered_at_s is None else self.recovered_at_s - self.removed_at_s

    @property
    def detect_s(self) -> float | None:
        return None if self.detected_at_s is None else self.detected_at_s - self.injected_at_s


class KpiVerdict(_Model):
    expression: str
    window: str = Field(description="baseline | fault:<name> | recovery:<name> | whole")
    measured: float | None = Field(description="None when there was nothing to measure")
    threshold: float
    comparator: Literal["<", "<=", ">", ">=", "=="]
    unit: str = Field(description="ms | s | % | count")
    passed: bool
    margin: float | None = Field(None, description="threshold headroom, in `unit`; <0 = breach")
    message: str = ""
    aborted_run: bool = False
    breached_at_s: float | None = None


class ScenarioResult(_Model):
    name: str
    description: str = ""
    status: Status
    invalid_reason: str | None = None
    t0: float = Field(description="Unix time of second 0")
    duration_s: float
    phases: list[Phase] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    series: list[SliceBucket] = Field(default_factory=list)
    probes: list[ProbeSample] = Field(default_factory=list)
    generator: GeneratorHealth | None = None
    websocket: WebSocketSummary | None = None
    recoveries: list[RecoveryMeasure] = Field(default_factory=list)
    kpis: list[KpiVerdict] = Field(default_factory=list)


class RunResult(_Model):
    schema_version: SchemaVersion = SCHEMA_VERSION
    run: RunMetadata
    status: Status
    exit_code: int = Field(ge=0, le=3)
    scenarios: list[ScenarioResult] = Field(default_factory=list)
