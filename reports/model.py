"""The versioned result of a run: the one source of truth that KPI checks and reports read.

Times inside a scenario are seconds from the scenario's `t0` (a Unix time), so slices,
phases and events line up without clock arithmetic. Latency histograms are per request name
per slice of INTENDED send time (`SLICE_S` long), HDR-encoded (see `reports.hdr`), in
microseconds. Slices finer than a second let recovery resolve to ±`SLICE_S`.
`RunResult.model_json_schema()` is published as `reports/result.schema.json`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chaosgate.stacks import StackName

SchemaVersion = Literal["chaosgate.result/2"]
SCHEMA_VERSION: SchemaVersion = "chaosgate.result/2"

SLICE_S = 0.25  # width of one bucket of intended send time; one second holds SLICES_PER_S
SLICES_PER_S = round(1 / SLICE_S)

Status = Literal["pass", "fail", "invalid"]
KpiStatus = Literal["pass", "fail", "insufficient"]
PhaseKind = Literal["warmup", "baseline", "fault", "recovery"]  # warmup: recorded, never judged
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
    timeouts: int = Field(
        0, ge=0, description="requests that waited until the client gave up (also in errors)"
    )
    degraded: int = Field(
        0, ge=0, description="accepted answers a response rule marked degraded (not errors)"
    )
    wrong: int = Field(
        0, ge=0, description="accepted answers a response rule marked wrong (not errors)"
    )
    histogram: str = Field(
        description="HDR, microseconds, latency from the intended start: every request "
        "(successes and errors), what the pN KPIs judge"
    )
    error_histogram: str | None = Field(
        None,
        description="HDR, microseconds: the errors' latencies only (successes = histogram minus "
        "this); absent when no request failed, and in results written before it existed",
    )

    slices: int = Field(
        1,
        ge=1,
        exclude_if=lambda width: width == 1,  # fine buckets (every short run) stay as they were
        description="width in slices: 1, or a long run's coarser bucket past its first minutes "
        "(scenarios.load.collect: every request of [slice, slice + slices) x SLICE_S, exact)",
    )

    @property
    def start_s(self) -> float:
        return self.slice * SLICE_S

    @property
    def mid_s(self) -> float:
        """Windows select slices by their middle: a slice belongs to [start, end) if this is in it."""
        return (self.slice + 0.5 * self.slices) * SLICE_S

    @property
    def end_s(self) -> float:
        return (self.slice + self.slices) * SLICE_S

    @property
    def width_s(self) -> float:
        return self.slices * SLICE_S


def slice_of(t_s: float) -> int:
    """The slice a scenario time falls in (times before 0 fall in slice 0)."""
    return max(math.floor(t_s / SLICE_S), 0)


class ProbeSample(_Model):
    """A reading of the SUT's state (readiness, breaker state, pool use) at one time."""

    t_s: float
    name: str = Field(description='e.g. "ready", "breaker.postgres", "pool.postgres.in_use"')
    value: float | str


class UserSetup(_Model):
    """One user class's set-up before the schedule (paced under the SUT's shed limit, refusals
    retried; `scenarios.users.base.TicketedUser.set_up`), and what its tasks lacked after."""

    users: int = Field(0, ge=0, description="set-up steps run (one per user and step)")
    attempts: int = Field(0, ge=0)
    refused: int = Field(0, ge=0, description="attempts the SUT refused (retried)")
    failed: int = Field(0, ge=0, description="steps given up: users without what they need")
    errors: dict[str, int] = Field(default_factory=dict, description="refusals by kind")
    missing: dict[str, int] = Field(
        default_factory=dict,
        description="request -> sends that had nothing to act on (their set-up failed): never "
        "sent as another request",
    )
    no_request: int = Field(0, ge=0, description="tasks that returned without a request")


class GeneratorHealth(_Model):
    intended_rate: float = Field(description="requests per second the schedule asked for")
    achieved_rate: float
    scheduled: int = Field(ge=0)
    sent: int = Field(ge=0)
    max_lag_ms: float = Field(description="worst send start after its intended time")
    p99_lag_ms: float
    late_fraction: float = Field(
        ge=0,
        le=1,
        description="sends later than the tolerance (or never sent) through the generator's own "
        "fault: its timers lagged while a user was free, or its CPU was saturated",
    )
    slot_starved: int = Field(
        0,
        ge=0,
        description="sends that started late (or never) because every user was waiting on a "
        "slow SUT; their latency counts from the intended send, so the KPIs judge them",
    )
    slot_starved_fraction: float = Field(0.0, ge=0, le=1)
    tolerance_ms: float
    cpu_percent_max: float
    workers: int = Field(ge=1)
    rss_mb_max: float = 0.0
    mix_setup: list[str] = Field(
        default_factory=list,
        description="a request mix's set-up (log-in): users ready in how long, per worker",
    )
    valid: bool
    reason: str | None = None
    setup: dict[str, UserSetup] = Field(default_factory=dict, description="per user class")
    slots: int | None = Field(None, description="HTTP slots given (load.concurrency)")
    slots_needed: int | None = Field(
        None, description="Little's law: peak rate x the SUT's median service time"
    )
    service_p50_ms: dict[str, float] = Field(
        default_factory=dict,
        description="per HTTP request (and * over all): the SUT's median service time from "
        "the real send, no harness queue in it",
    )
    load_problems: list[str] = Field(
        default_factory=list,
        description="why the load did not run as declared though the generator kept time "
        "(too few slots, a user class that could not set itself up): the run is invalid",
    )


class WebSocketSummary(_Model):
    """Jepsen-style accounting of our WebSocket messages (see `scenarios.load.wscheck`).

    attempted >= failed + sent: every send the load asked for, including those tried while
    disconnected (a send cut off mid-call is neither failed nor sent). `delivered_ratio` is received / attempted, so a refused send is a miss.
    """

    attempted: int = Field(0, ge=0, description="sends tried (old results: sent + failed)")
    failed: int = Field(0, ge=0, description="send raised or the client was disconnected")
    failed_errors: dict[str, int] = Field(default_factory=dict, description="failed, by error")
    sent: int = Field(ge=0, description="the send call returned")
    acknowledged: int = Field(ge=0)
    unacknowledged: list[str] = Field(default_factory=list, description="sent, never acked")
    received: int = Field(ge=0, description="distinct ids of ours received")
    lost: list[str] = Field(default_factory=list, description="acknowledged but never received")
    duplicated: list[str] = Field(default_factory=list)
    unexpected: list[str] = Field(default_factory=list)
    reconnects: int = 0
    latency_histogram: str | None = Field(None, description="HDR µs, send -> receive")

    @model_validator(mode="before")
    @classmethod
    def _attempted_of_old_results(cls, data: Any) -> Any:
        # results written before `attempted` existed recorded no failed sends
        if isinstance(data, dict) and "attempted" not in data:
            return {**data, "attempted": int(data.get("sent", 0)) + int(data.get("failed", 0))}
        return data

    @property
    def delivered_ratio(self) -> float | None:
        """received / attempted; None when nothing was attempted (no measurement)."""
        if self.attempted == 0:
            return None
        # old results counted server-originated messages in `received`: never above 1
        return min(self.received, self.attempted) / self.attempted


class WindowLoad(_Model):
    """CPU taken by processes that are neither the stack's nor the harness's during one judged
    window (scenarios.hostload), % of one core averaged over the window; steal included."""

    window: str
    start_s: float
    end_s: float
    other_percent: float = Field(description="other processes + steal, % of one core")
    steal_percent: float = 0.0
    busy: bool = Field(description="above the limit: a KPI failed here is not the SUT's")


class HostLoad(_Model):
    limit_percent: float
    windows: list[WindowLoad] = Field(default_factory=list)
    top: dict[str, float] = Field(
        default_factory=dict, description="the busiest other processes, % of a core over the run"
    )

    @property
    def busiest(self) -> WindowLoad | None:
        return max(self.windows, key=lambda w: w.other_percent, default=None)


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
    """One KPI's verdict. `function`, `argument` and `spans` say what was judged, so renderers
    never re-parse `expression`; `samples` / `needed` the evidence (reports.kpi_functions).
    Results written before these fields load with `status` taken from `passed`."""

    expression: str
    window: str = Field(description="baseline | fault:<name> | recovery:<name> | whole")
    measured: float | None = Field(description="None when there was nothing to measure")
    threshold: float
    comparator: Literal["<", "<=", ">", ">=", "=="]
    unit: str = Field(description="ms | s | % | count | rps")
    passed: bool
    margin: float | None = Field(None, description="threshold headroom, in `unit`; <0 = breach")
    message: str = ""
    aborted_run: bool = False
    breached_at_s: float | None = None
    status: KpiStatus = Field("fail", description="insufficient: fewer samples than needed")
    function: str = Field("", description="e.g. p95, error_rate, recovery")
    argument: str = Field("", description="request name, *, probe series, fault or ws")
    spans: list[tuple[float, float]] = Field(
        default_factory=list, description="[start, end) scenario seconds judged"
    )
    samples: int | None = Field(None, description="samples the value rests on (n)")
    needed: int | None = Field(None, description="samples a verdict needs (minimum evidence)")

    @model_validator(mode="before")
    @classmethod
    def _status_from_passed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "status" not in data:
            return {**data, "status": "pass" if data.get("passed") else "fail"}
        return data


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
    host: HostLoad | None = Field(None, description="other work on the machine per window")
    scenario: dict[str, Any] | None = Field(
        None, description="the scenario as validated (scenarios.schema.Scenario): chaosgate replay"
    )


# the stack names are listed once, in chaosgate/stacks.py: a backend added there is a valid
# result's `target.stack` without a second edit here
StackKind = StackName


class Target(_Model):
    """The service the run gated: its URL, its version when known, the stack it ran on."""

    url: str = Field(description="the service's base URL (without the client proxy)")
    version: str | None = Field(None, description="given in the target file or read from it")
    stack: StackKind


class RunResult(_Model):
    schema_version: SchemaVersion = SCHEMA_VERSION
    run: RunMetadata
    target: Target | None = Field(None, description="the service gated (results before: absent)")
    status: Status
    exit_code: int = Field(
        ge=0,
        le=130,
        description="the process's exit code: 0 pass, 1 fail, 3 invalid, 130 interrupted",
        json_schema_extra={"enum": [0, 1, 2, 3, 130]},
    )

    scenarios: list[ScenarioResult] = Field(default_factory=list)

    @field_validator("exit_code")
    @classmethod
    def _a_process_exit_code(cls, code: int) -> int:
        if code not in (0, 1, 2, 3, 130):
            raise ValueError(f"expected 0, 1, 2, 3 or 130 (interrupted), got {code}")
        return code
