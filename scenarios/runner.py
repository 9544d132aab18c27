"""Run ONE scenario on an open stack: load + probes + the fault schedule, then judge it.

Lifecycle (Chaos Toolkit's shape): baseline → fault(s) on schedule → recovery; the faults'
context managers sit in one ExitStack, so they are undone on success, breach, error and
Ctrl-C alike. A fault that did not take effect or a generator that fell behind makes the
scenario `invalid` (exit 3); a broken KPI makes it `fail` (exit 1).

The load's warm-up (`load.warmup_s`) comes first and is recorded but never judged: scenario
windows, fault `at_s` and the abort watch count from its end (`judged_from`). Other work on
the machine is sampled throughout (scenarios.hostload): a KPI that failed in a window where
it took more than `load.host_busy_percent` of a core is not the SUT's (INVALID, host busy).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from chaosgate.errors import FaultNotEffective, RunInvalid
from chaosgate.settings import HarnessSettings
from fixtures.faults import FaultContext
from fixtures.stack import Stack
from reports.kpi_eval import evaluate_all
from reports.model import (
    HostLoad,
    KpiVerdict,
    Phase,
    ProbeSample,
    RecoveryMeasure,
    ScenarioResult,
    SliceBucket,
    Status,
)
from scenarios.abort import AbortWatch, Breach
from scenarios.fault_clock import Times, measure, removed_at
from scenarios.hostload import HostSampler, stack_pid_finder
from scenarios.journal import Journal
from scenarios.load.run import LoadOutcome, LoadRun, load_reasons
from scenarios.load.setup_phase import SetupWatch
from scenarios.probes import Probes
from scenarios.schema import Scenario
from scenarios.slots_verdict import drop_excused_slots

# the early-stop check's period: the stop may come up to 1 s later; the figures do not move
# (recovery is read from the data, to 0.25 s)
DONE_EVERY_S = 1.0
FINE_MARGIN_S = 10.0  # around a fault's windows: its pre-fault seconds and late recovery
START_LEAD_S = 0.0  # the load engine itself starts its schedule once its users are spawned


class _Aborted(Exception):
    def __init__(self, breach: Breach) -> None:
        super().__init__(breach.expression)
        self.breach = breach


class ScenarioRun:
    judged_from = 0.0  # scenario time the judged windows start at (after the warm-up)
    host: HostSampler | None = None

    def __init__(
        self,
        stack: Stack,
        scenario: Scenario,
        settings: HarnessSettings,
        out_dir: Path,
        progress: bool = True,
    ):
        self.stack, self.scenario, self.settings = stack, scenario, settings
        self.out_dir = out_dir
        self.t0 = time.time() + START_LEAD_S
        self.journal = Journal(self.t0)
        self.phases = scenario.phases()
        self.watch = AbortWatch(scenario.kpis, self.phases, scenario.duration_s)
        self.load = LoadRun(scenario.plan(), stack.sut_url, self.t0, out_dir, progress=progress,
                            timeouts=settings.timeouts)  # fmt: skip
        self.probes = Probes.for_stack(stack, self.t0, timeout_s=min(settings.timeouts.http_s, 2.0))
        self.ctx = FaultContext(stack, settings.timeouts)
        self.times: Times = {}  # fault -> (injected, removed), see scenarios.fault_clock
        self.breach: Breach | None = None
        self.invalid: str | None = None
        self.offset = 0.0  # scenario time of the load's first second (see _align)
        self.host = HostSampler(self.t0, stack_pid_finder(stack))

    def _judged_series(self, series: list[SliceBucket]) -> list[SliceBucket]:
        """The buckets a window may judge: the warm-up's are recorded, never judged."""
        return [b for b in series if b.mid_s >= self.judged_from]

    def _judged_probes(self, probes: list[ProbeSample]) -> list[ProbeSample]:
        return [p for p in probes if p.t_s >= self.judged_from]

    # -- the schedule ---------------------------------------------------------------------
    def _wait_until(self, t_s: float, done: Callable[[], bool] | None = None) -> None:
        """Idle until scenario time `t_s` (or `done()`), checking for a breach; raises `_Aborted`.
        `done()` (the early stop: it re-judges every recovery window, 0.1-0.9 s of CPU on a
        2-core machine) runs at most once per DONE_EVERY_S after its last evaluation ended, so
        the harness never takes a core from the SUT it is judging."""
        poll = max(self.settings.timeouts.poll_interval_s * 4, 0.2)
        done_next = 0.0
        while (now := self.journal.now_s()) < t_s:
            self._check_breach()
            if not any(p.is_running() for p in self.load.processes):
                return
            if done is not None and now >= done_next:
                if done():
                    return
                done_next = self.journal.now_s() + DONE_EVERY_S
            time.sleep(min(poll, t_s - now))

    def _all_recovered(self) -> bool:
        """Live: has every fault been followed by K healthy seconds, or had its search closed by
        the next fault's injection? (ends the run early)"""
        if not self.scenario.steady_checks():
            return False
        # each returns(...) KPI needs its seconds of samples after its fault, whatever recovery says
        if self.journal.now_s() < self.judged_from + self.scenario.watched_until_s():
            return False
        self.load.latest_second()
        collector = self.load.collector
        series = self._judged_series(collector.series())
        probes = self._judged_probes(self.probes.snapshot())
        end = self.journal.now_s() - 1  # the newest slices may still have requests in flight
        # nor is a slice judged whose slow requests are still out: a stop that reads
        # "recovered" here must not read "never recovered" once they are in
        in_flight = collector.recorded_through_s(self.load.plan.workers)
        events = self.journal.events()
        for step in self.scenario.faults:
            found = measure(self.scenario, step, self.times, events, series, probes, end,
                            in_flight_until_s=in_flight, detecting=False)  # fmt: skip
            if found is None or (found.recovered_at_s is None and found.cut_short_by is None):
                return False
        self.journal.add("note", message="every fault's recovery settled: ending the load early")
        return True

    def _check_breach(self) -> None:
        if not self.watch.active:
            return
        self.load.latest_second()  # polls the workers' records
        complete = math.floor(self.journal.now_s()) - 1
        series = self._judged_series(self.load.collector.series())
        breach = self.watch.check(series, self._judged_probes(self.probes.snapshot()), complete)
        if breach is not None:
            raise _Aborted(breach)

    def _run_schedule(self, faults: ExitStack) -> None:
        for step in self.scenario.faults:
            self._wait_until(self.judged_from + step.at_s)
            fault = step.build()
            ctx = FaultContext(
                self.stack, self.settings.timeouts, self.journal.sink(step.name), self.ctx.stop
            ).lasting(self.judged_from + step.end_s - self.journal.now_s())
            with ExitStack() as one:
                injected = self.journal.now_s()  # the inject command is issued next
                self.times[step.name] = (injected, None)
                one.enter_context(fault.active(ctx))
                faults.callback(one.pop_all().close)  # so an abort below still undoes it
                self._wait_until(self.judged_from + step.end_s)
            undo_issued = self.journal.now_s()
            faults.pop_all().close()
            removed = removed_at(self.journal.events(), step.name, injected, undo_issued)
            self.times[step.name] = (injected, removed)
        early = (
            self._all_recovered if self.scenario.faults and self.scenario.end_on_recovery else None
        )
        self._wait_until(
            self.judged_from + self.scenario.duration_s + self.scenario.load.drain_s + 30, early
        )

    def _align(self) -> None:
        """Scenario second 0 is when the load really starts (its workers take a few seconds to
        import Locust and spawn users): wait for the first completed second, shift the plan.
        The users' set-up may outlast the start-up timeout while it progresses: the workers fail
        a stalled one themselves (load.failure(), at once), so only their cap bounds it here."""
        deadline = time.time() + SetupWatch.CAP * self.settings.timeouts.startup_s
        while time.time() < deadline and any(p.is_running() for p in self.load.processes):
            if (failure := self.load.failure()) is not None:  # its own error, at once
                raise RunInvalid(f"the load generator could not start: {failure}")
            self.load.latest_second()
            seconds = self.load.collector.seconds()
            if seconds:
                self.offset = float(min(seconds))
                break
            time.sleep(self.settings.timeouts.poll_interval_s * 4)
        else:
            failure = self.load.failure() or (
                "it sent nothing before the start-up deadline"
                if any(p.is_running() for p in self.load.processes)
                else "its processes ended without sending anything"
            )
            raise RunInvalid(f"the load generator could not start: {failure}")
        warmup = self.scenario.load.warmup_s
        self.judged_from = start = self.offset + warmup
        self.phases = [
            p.model_copy(update={"start_s": p.start_s + start, "end_s": p.end_s + start})
            for p in self.phases
        ]
        self.watch = AbortWatch(self.scenario.kpis, self.phases, start + self.scenario.duration_s)
        # recovery reads 0.25 s slices: a soak's collector never coarsens these windows
        self.load.collector.fine_spans = [
            (p.start_s - FINE_MARGIN_S, p.end_s + FINE_MARGIN_S)
            for p in self.phases
            if p.kind in ("fault", "recovery")
        ]
        if warmup > 0:
            self.phases.insert(0, Phase(name="warmup", kind="warmup", start_s=self.offset,
                                        end_s=start))  # fmt: skip
        self.journal.add("load.started", message=f"first requests in second {self.offset:g}"
                         + (f"; warm-up until {start:g} s (not judged)" if warmup > 0 else ""))  # fmt: skip

    def execute(self) -> ScenarioResult:
        self.journal.add("scenario.start", message=self.scenario.name)
        with self.probes, self.host or contextlib.nullcontext():
            try:
                self.load.start()
                self._align()
                with ExitStack() as faults:
                    try:
                        self._run_schedule(faults)
                    except _Aborted as aborted:
                        self.breach = aborted.breach
                        self.journal.add("abort", message=f"KPI broke: {aborted.breach.expression}",
                                         first_broken_s=aborted.breach.first_broken_s)  # fmt: skip
                    except FaultNotEffective as error:
                        self.invalid = str(error)
                        self.journal.add("invalid", message=str(error))
            finally:
                self.ctx.stop.set()
                if any(p.is_running() for p in self.load.processes):
                    self.load.stop()  # ends early (recovered, breach) or unwinds (error, Ctrl-C)
        self.journal.add("scenario.end", message=self.scenario.name)
        return self._judge(self.load.result())

    # -- judging --------------------------------------------------------------------------
    def _judge(self, outcome: LoadOutcome) -> ScenarioResult:
        end_s = max([self.journal.now_s(), *(b.end_s for b in outcome.series)])
        phases = _stretch(self.phases, end_s, self.breach)
        result = ScenarioResult(
            name=self.scenario.name,
            description=self.scenario.description,
            status="pass",
            t0=self.t0,
            duration_s=round(end_s, 3),
            phases=phases,
            events=self.journal.events(),
            series=outcome.series,
            probes=self.probes.snapshot(),
            generator=outcome.generator,
            websocket=outcome.websocket,
            scenario=self.scenario.model_dump(mode="json"),  # replayable: chaosgate replay
        )
        judged = result.model_copy(update={"series": self._judged_series(result.series),
                                           "probes": self._judged_probes(result.probes)})  # fmt: skip
        result.recoveries = judged.recoveries = self._recoveries(judged, end_s)
        result.kpis = self._verdicts(judged)
        if self.host is not None:
            result.host = self.host.result(phases, self.scenario.load.host_busy_percent)
        status: Status = "fail" if any(not v.passed for v in result.kpis) else "pass"
        reasons = [self.invalid] if self.invalid else []
        thin = [f"{v.expression} ({v.samples} of {v.needed} samples)" for v in result.kpis if v.status == "insufficient"]  # fmt: skip
        if thin and self.breach is None:  # too few samples to judge: no verdict (an abort is one)
            reasons.append(f"insufficient evidence: {'; '.join(thin)}")
        # even with a KPI failed: both show (verdicts + reason)
        # a slot shortage under a FAIL the SUT owns (overloaded, erroring) is no excuse
        reasons.extend(
            drop_excused_slots(load_reasons(outcome.generator), result.kpis, outcome.generator)
        )
        busy = host_busy(result.kpis, result.host)
        if busy is not None:
            reasons.append(busy)
        self.invalid = "; ".join(reasons) or None
        if self.invalid:
            status = "invalid"
        result.status, result.invalid_reason = status, self.invalid
        return result

    def _recoveries(self, result: ScenarioResult, end_s: float) -> list[RecoveryMeasure]:
        events = self.journal.events()
        measures = (
            measure(self.scenario, step, self.times, events, result.series, result.probes, end_s)
            for step in self.scenario.faults
        )
        return [m for m in measures if m is not None]

    def _verdicts(self, result: ScenarioResult) -> list[KpiVerdict]:
        # a capacity KPI is the knee of a search: `chaosgate capacity` judges it, not a run
        verdicts = evaluate_all([s.kpi for s in self.scenario.kpis if s.kpi.entry.in_run], result)
        if self.breach is not None:
            for verdict in verdicts:
                if verdict.expression == self.breach.expression:
                    verdict.aborted_run = True
                    verdict.breached_at_s = self.breach.first_broken_s
                    # its verdict is its own evaluation (issue 20), never forced to FAIL
                    verdict.message = f"aborted the run at {self.breach.decided_at_s:g}s: broken since {self.breach.first_broken_s:g}s; {verdict.message}"
        return verdicts


def host_busy(verdicts: list[KpiVerdict], host: HostLoad | None) -> str | None:
    """INVALID "host busy" when every failed KPI failed in a window where other work took more
    than the limit (each such verdict says so); None when the host was quiet where a KPI failed
    (that FAIL is the SUT's) or nothing failed (a PASS under noise is still a PASS)."""
    busy = [w for w in host.windows if w.busy] if host is not None else []
    failed = [v for v in verdicts if v.status == "fail"]
    if not busy or not failed:
        return None

    def busy_during(verdict: KpiVerdict) -> list[float]:
        spans = verdict.spans or [(-math.inf, math.inf)]
        return [w.other_percent for w in busy
                if any(start < w.end_s and w.start_s < end for start, end in spans)]  # fmt: skip

    if any(not busy_during(v) for v in failed):
        return None  # a KPI failed while the host was quiet: the SUT's FAIL stands
    for verdict in failed:
        verdict.message += (
            f" (not judged: host busy, {max(busy_during(verdict)):.0f} % of a core taken by "
            "other processes)"
        )
    worst = max(busy, key=lambda w: w.other_percent)
    assert host is not None
    return (
        f"host busy: {worst.other_percent:.0f} % of a core taken by other processes during "
        f"{worst.window} (limit {host.limit_percent:g} %; the KPIs that failed ran while it was "
        f"busy: {', '.join(v.expression for v in failed)})"
    )


def _stretch(phases: list[Phase], end_s: float, breach: Breach | None) -> list[Phase]:
    """The planned phases cut at an abort, the last one stretched to the observed end."""
    cut = breach.decided_at_s if breach else None
    out: list[Phase] = []
    for index, phase in enumerate(phases):
        start, end = phase.start_s, phase.end_s
        if index == len(phases) - 1:
            end = max(end, end_s)
        if cut is not None:
            if start >= cut:
                break
            end = min(end, cut)
        out.append(phase.model_copy(update={"end_s": round(end, 3)}))
    return out


def run_scenario(
    stack: Stack,
    scenario: Scenario,
    settings: HarnessSettings,
    out_dir: Path,
    progress: bool = True,
) -> ScenarioResult:
    """One scenario on an open stack; a RunInvalid becomes an `invalid` result, not a crash."""
    try:
        return ScenarioRun(stack, scenario, settings, out_dir, progress).execute()
    except RunInvalid as error:
        return invalid_result(scenario, str(error))


def invalid_result(scenario: Scenario, reason: str) -> ScenarioResult:
    return ScenarioResult(name=scenario.name, description=scenario.description, status="invalid",
                          invalid_reason=reason, t0=time.time(), duration_s=0.0)  # fmt: skip
