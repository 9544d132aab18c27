"""The search of `chaosgate explore`: run generated schedules until the budget is spent; confirm
a failure by running it again (a failure that does not repeat is flaky: reported, not a
finding), shrink a confirmed one (scenarios.explore_shrink), verify the minimal schedule and
write it as a scenario file.

Verify: the shrink keeps a change on one failing run, so it walks to the edge of the failing
region, where a schedule fails only some of the time (measured: a shrunk finding failed in the
search and then PASSED 3 of 3 under `chaosgate run`). The minimal schedule is run VERIFY_RUNS
more times and is the finding only if every run fails the same way; else the kept schedule
before it is tried, back to the confirmed original. None that holds: not a finding (flaky).
Verifying runs past the budget (at most VERIFY_RUNS per kept step): a finding nobody can
reproduce costs its reader more than the minutes.

`run(scenario)` is the caller's: it runs one scenario on the one stack (RunSession) and returns
its result. A schedule FAILS when a KPI breaks (invalid runs say nothing about the SUT: neither
a finding nor a pass: such a run is repeated once, as a host busy for a while is common); a
shrink step fails "the same way" when one of the KPIs that broke first
breaks again (compared without fault names: scenarios.explore_scenario.signature).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reports.model import ScenarioResult
from scenarios.explore import Schedule, Space, generate
from scenarios.explore_scenario import ExplorePlan, signature, write_scenario
from scenarios.explore_shrink import Shrunk, shrink
from scenarios.schema import Scenario

Run = Callable[[Scenario], ScenarioResult]
FIRST_ESTIMATE_S = 20.0  # fixed costs of one schedule's run before any was measured
VERIFY_RUNS = 2  # re-runs a finding must fail, every one, before it is written


@dataclass(frozen=True)
class Attempt:
    """One run of one schedule."""

    name: str
    role: str  # explore | confirm | shrink | verify
    schedule: Schedule
    status: str  # pass | fail | invalid
    broke: tuple[str, ...]  # "expression (measured ...)" of each broken KPI
    signature: frozenset[str]
    seconds: float
    invalid_reason: str | None = None


@dataclass
class Finding:
    index: int  # the schedule's number in the sequence
    schedule: Schedule
    first: Attempt
    confirm: Attempt
    shrunk: Shrunk | None = None
    verified: Schedule | None = None  # the schedule that failed every verifying run
    verify: list[Attempt] = field(default_factory=list)
    verify_runs: int = VERIFY_RUNS
    minimal_broke: tuple[str, ...] = ()
    scenario_file: Path | None = None

    @property
    def confirmed(self) -> bool:
        return _same_failure(self.confirm, self.first.signature)

    @property
    def found(self) -> bool:
        """Confirmed, shrunk and verified: a finding (written)."""
        return self.confirmed and self.verified is not None

    @property
    def reproduced(self) -> tuple[int, int]:
        """Of the verifying runs of the written schedule: (failed the same way, run)."""
        runs = [a for a in self.verify if a.schedule == self.verified]
        return sum(_same_failure(a, self.first.signature) for a in runs), len(runs)


@dataclass
class Search:
    """What the search did, for the report (scenarios.explore_report renders it)."""

    seed: int
    budget_s: float
    space: Space
    attempts: list[Attempt] = field(default_factory=list)
    explored: list[tuple[int, Schedule]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    stopped_by: str = ""

    @property
    def spent_s(self) -> float:
        return (self.ended or time.monotonic()) - self.started


def _broken(result: ScenarioResult) -> tuple[str, ...]:
    found = []
    for kpi in result.kpis:
        if kpi.status == "fail" and not kpi.passed:
            measured = "nothing" if kpi.measured is None else f"{kpi.measured:.4g} {kpi.unit}"
            found.append(f"{kpi.expression} (measured {measured})")
    return tuple(found)


def _worth_repeating(attempt: Attempt) -> bool:
    """An INVALID run says nothing, and a host busy for a while often is not the next time; one
    with too few samples is the schedule's own doing (its faults start before the steady KPIs
    have their evidence) and would be INVALID again."""
    reason = attempt.invalid_reason or ""
    own = reason.startswith("insufficient evidence") and "host busy" not in reason
    return attempt.status == "invalid" and not own


def _same_failure(attempt: Attempt, wanted: frozenset[str]) -> bool:
    return attempt.status == "fail" and bool(attempt.signature & wanted)


class Explorer:
    def __init__(self, plan: ExplorePlan, space: Space, seed: int, budget_s: float, run: Run,
                 out_dir: Path, *, max_findings: int = 0, max_schedules: int = 0, say: Callable[[str], None] = print,
                 command: str = "") -> None:  # fmt: skip
        self.plan, self.space, self.run_one = plan, space, run
        self.out_dir, self.max_findings, self.say, self.command = (
            out_dir,
            max_findings,
            say,
            command,
        )
        self.max_schedules = max_schedules
        self.search = Search(seed, budget_s, space)

    # -- one run ------------------------------------------------------------------------------
    def _estimate_s(self) -> float:
        done = [a.seconds for a in self.search.attempts]
        return max(done) if done else FIRST_ESTIMATE_S + self.plan.base.duration_s

    def _out_of_budget(self) -> bool:
        return self.search.spent_s + self._estimate_s() > self.search.budget_s

    def _attempt(self, schedule: Schedule, name: str, role: str) -> Attempt:
        started = time.monotonic()
        result = self.run_one(self.plan.scenario(schedule, name, seed=self.search.seed))
        status = result.status if result.status in ("pass", "fail") else "invalid"
        broke = _broken(result) if status == "fail" else ()
        attempt = Attempt(name, role, schedule, status, broke,
                          frozenset(signature(b.split(" (measured")[0]) for b in broke),
                          round(time.monotonic() - started, 1), result.invalid_reason)  # fmt: skip
        self.search.attempts.append(attempt)
        why = {"fail": f": {'; '.join(broke)}", "invalid": f": {result.invalid_reason}"}
        self.say(f"{name} [{role}] {schedule.describe()}: {status.upper()}{why.get(status, '')}")
        return attempt

    # -- the search ---------------------------------------------------------------------------
    def explore(self) -> Search:
        search = self.search
        for index, schedule in enumerate(generate(self.space, search.seed)):
            if self._out_of_budget():
                search.stopped_by = "budget"
                break
            if self.max_schedules and index >= self.max_schedules:
                search.stopped_by = f"{self.max_schedules} schedule(s)"
                break
            search.explored.append((index, schedule))
            name = f"{self.plan.base.name}-s{index}"
            first = self._attempt(schedule, name, "explore")
            if _worth_repeating(first) and not self._out_of_budget():  # says nothing: once more
                first = self._attempt(schedule, f"{name}-again", "explore")
            if first.status == "fail":
                self._found(index, schedule, first)
            if self.max_findings and sum(f.found for f in search.findings) >= self.max_findings:
                search.stopped_by = f"{self.max_findings} finding(s)"
                break
        else:
            search.stopped_by = "the space gave no more schedules"
        search.ended = time.monotonic()
        return search

    def _found(self, index: int, schedule: Schedule, first: Attempt) -> None:
        name = f"{self.plan.base.name}-s{index}"
        confirm = self._attempt(schedule, f"{name}-confirm", "confirm")
        if _worth_repeating(confirm) and not self._out_of_budget():
            confirm = self._attempt(schedule, f"{name}-confirm2", "confirm")
        finding = Finding(index, schedule, first, confirm)
        self.search.findings.append(finding)
        if not finding.confirmed:
            self.say(f"{name}: did not fail the same way again: flaky, not a finding")
            return
        tries = iter(range(1, 10_000))

        def fails(candidate: Schedule) -> bool:
            attempt = self._attempt(candidate, f"{name}-shrink{next(tries)}", "shrink")
            return _same_failure(attempt, first.signature)

        finding.shrunk = shrink(schedule, self.space, fails, self._out_of_budget)
        kept = [t.schedule for t in finding.shrunk.path if t.kept]
        for candidate in [*reversed(kept), schedule]:  # the minimal first, back to the original
            broke = self._verify(finding, candidate, name)
            if broke is not None:
                finding.verified, finding.minimal_broke = candidate, broke
                break
        if finding.verified is None:
            self.say(f"{name}: no schedule of it failed every re-run: flaky, not a finding")
            return
        finding.scenario_file = self._write(finding, sum(f.found for f in self.search.findings))

    def _verify(self, finding: Finding, schedule: Schedule, name: str) -> tuple[str, ...] | None:
        """The broken KPIs when `schedule` fails every verifying run the same way, else None."""
        broke: tuple[str, ...] = ()
        for run in range(1, finding.verify_runs + 1):
            attempt = self._attempt(schedule, f"{name}-verify{len(finding.verify) + 1}", "verify")
            if _worth_repeating(attempt):  # says nothing (host busy): once more
                attempt = self._attempt(
                    schedule, f"{name}-verify{len(finding.verify) + 1}b", "verify"
                )
            finding.verify.append(attempt)
            if not _same_failure(attempt, finding.first.signature):
                self.say(f"{schedule.describe()}: verifying run {run} {attempt.status.upper()}:"
                         " not the finding")  # fmt: skip
                return None
            broke = broke or attempt.broke
        return broke

    @staticmethod
    def _stepped_back(finding: Finding) -> list[str]:
        assert finding.shrunk is not None
        assert finding.verified is not None
        if finding.verified == finding.shrunk.minimal:
            return []
        return [
            "which did not fail every re-run; the last kept schedule that did:",
            f"  {finding.verified.describe()}",
        ]

    def _write(self, finding: Finding, number: int) -> Path:
        assert finding.shrunk is not None
        assert finding.verified is not None
        name = f"{self.plan.base.name}-finding-{number}"
        scenario = self.plan.scenario(finding.verified, name, seed=self.search.seed)
        kept = sum(t.kept for t in finding.shrunk.path)
        failed, runs = finding.reproduced
        header = [
            f"found by chaosgate explore (seed {self.search.seed}), schedule #{finding.index}:",
            f"  {finding.schedule.describe()}",
            f"shrunk in {len(finding.shrunk.path)} run(s), {kept} change(s) kept"
            + ("" if finding.shrunk.complete else " (cut short by the budget)")
            + " to:",
            f"  {finding.shrunk.minimal.describe()}",
            *self._stepped_back(finding),
            f"it failed {failed} of {runs} verifying run(s) the same way",
            "the KPI(s) that broke:",
            *(f"  {b}" for b in finding.minimal_broke),
            f"re-run: chaosgate run {name}.yaml",
        ]
        path = write_scenario(self.out_dir / "findings" / f"{name}.yaml", scenario, header)
        self.say(f"finding {number}: {finding.verified.describe()} -> {path}")
        return path
