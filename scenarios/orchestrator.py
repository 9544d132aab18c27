"""Run many scenarios into one `RunResult`: stacks shared where the SUT config matches, the
stack reset and CHECKED clean between scenarios, run metadata (versions, commit, machine).

Scenarios are grouped by their `sut_overrides` (first appearance order); each group shares one
stack, which is what keeps the release suite inside its wall-time budget. A stack that can restart
its SUT (`Stack.restart_sut`, the local backend) serves every group: the next group's overrides
restart only the SUT's processes on fresh data, the dependencies stay up. A scenario after which
the stack is dirty (a toxic left, a process paused or dead) is INVALID: its faults did not undo
themselves, or the SUT died under them, so its verdict cannot be trusted.
"""

from __future__ import annotations

import os
import platform
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from importlib import metadata
from pathlib import Path

import psutil

from chaosgate import __version__
from chaosgate.errors import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_KPI_FAILED, EXIT_OK, StackError
from chaosgate.settings import HarnessSettings
from fixtures.backends import open_stack
from fixtures.clean import restore_clean
from fixtures.external import target_identity
from fixtures.stack import Stack
from reports.model import Event, Machine, RunMetadata, RunResult, ScenarioResult, Status, Target
from scenarios.runner import invalid_result, run_scenario
from scenarios.schema import Scenario, overrides_key

REPO = Path(__file__).resolve().parents[1]
PACKAGES = (
    "pydantic",
    "locust",
    "hdrhistogram",
    "toxiproxy-python",
    "httpx",
    "fastapi",
    "testcontainers",
)
Report = Callable[[str], None]
Key = tuple[object, ...]  # scenarios.schema.overrides_key: scenarios with one key share a stack
INTERRUPTED = "interrupted"


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during a run: carries the result so far (the stack already torn down),
    so the CLI still writes result.json and the reports before it exits 130."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(INTERRUPTED)
        self.result = result


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def machine() -> Machine:
    return Machine(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        python=platform.python_version(),
        cpus=os.cpu_count() or 1,
        memory_gb=round(psutil.virtual_memory().total / 2**30, 2),
    )


def commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def versions() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def overall(scenarios: list[ScenarioResult]) -> tuple[Status, int]:
    if any(s.status == "invalid" for s in scenarios):
        return "invalid", EXIT_INVALID
    if any(s.status == "fail" for s in scenarios):
        return "fail", EXIT_KPI_FAILED
    return "pass", EXIT_OK


def left_dirty(result: ScenarioResult, left: list[str]) -> ScenarioResult:
    """The scenario left the stack dirty: INVALID with what was found (now repaired)."""
    found = "; ".join(left)
    reason = f"stack left dirty after the scenario (now repaired): {found}"
    if result.invalid_reason:
        reason = f"{result.invalid_reason}; {reason}"
    event = Event(t_s=result.duration_s, kind="cleanup", message=found)
    return result.model_copy(
        update={"status": "invalid", "invalid_reason": reason, "events": [*result.events, event]}
    )


class RunSession:
    """One run, used by `chaosgate run` (`run_all`), `replay`, `capacity`, `explore`, the pytest
    plugin (one item at a time) and `chaosgate load` (no scenario: `on_target`, then `add`):
    a stack per `sut_overrides`, opened when first needed and kept until `release` or `close`;
    each scenario between two clean checks; a stack that fails makes its scenarios INVALID
    (never retried in this run); `result()` is the one `RunResult` the renderers write."""

    def __init__(self, settings: HarnessSettings, *, backend: str, out_dir: Path, run_id: str,
                 command: str = "", report: Report = print, progress: bool = True) -> None:  # fmt: skip
        self.settings, self.backend, self.run_id = settings, backend, run_id
        self.out_dir = out_dir.resolve()  # the load workers run elsewhere: no relative paths
        self.command, self.report, self.progress = command, report, progress
        self.started = time.time()
        self.results: list[ScenarioResult] = []
        self.seen: list[Scenario] = []  # run or skipped, in order (the run's seed)
        self.target: Target | None = None
        self._stacks: dict[Key, tuple[AbstractContextManager[Stack], Stack]] = {}
        self._failed: dict[Key, str] = {}  # a stack that failed: why, for its later scenarios
        self._backend_used, self._toxiproxy = "", ""
        self._seed: int | None = None  # a run without scenarios (`chaosgate load`): its plan's

    @classmethod
    def for_command(cls, settings: HarnessSettings, out: Path | None, *, report: Report = print,
                    progress: bool = True) -> RunSession:  # fmt: skip
        """The run of the `chaosgate` command line this process runs: a new run id, its folder
        under `out` (default: the settings' reports_dir), the command as typed."""
        run_id = new_run_id()
        return cls(settings, backend=settings.backend, out_dir=(out or settings.reports_dir) / run_id,
                   run_id=run_id, command=shlex.join(["chaosgate", *sys.argv[1:]]), report=report,
                   progress=progress)  # fmt: skip

    def on_target(self, target: Target, *, seed: int, toxiproxy: str = "") -> None:
        """A run with no scenario and no stack of its own (`chaosgate load`, a live session on
        a running service): the service it drives is the record's target, its stack the
        backend; its results come in by `add`."""
        self.target, self._backend_used = target, target.stack
        self._seed, self._toxiproxy = seed, toxiproxy

    def add(self, result: ScenarioResult) -> None:
        """Record a result this session did not run itself (the live session's)."""
        self.results.append(result)

    def run(self, scenario: Scenario) -> ScenarioResult:
        """Run one scenario on its stack; the result (also kept for `result()`). Ctrl-C tears
        its stack down, records the scenario as interrupted and propagates."""
        key = overrides_key(scenario)
        if key in self._failed:
            return self.skip(scenario, self._failed[key])
        try:
            result = self._run_on(self._stack(key, scenario), scenario)
        except StackError as error:
            self._failed[key] = f"stack failed: {error}"
            self.release(key, error)
            return self.skip(scenario, self._failed[key])
        except KeyboardInterrupt as stop:
            self.release(key, stop)  # torn down before anything is written
            self.skip(scenario, INTERRUPTED)
            raise
        self.seen.append(scenario)
        self.results.append(result)
        self.report(f"scenario {scenario.name}: {result.status}")
        return result

    def skip(self, scenario: Scenario, reason: str) -> ScenarioResult:
        """Record a scenario that did not run (its stack failed, the run was interrupted)."""
        result = invalid_result(scenario, reason)
        self.seen.append(scenario)
        self.results.append(result)
        return result

    def _stack(self, key: Key, scenario: Scenario) -> Stack:
        if key not in self._stacks and scenario.external_target() is None:
            self._restart_sut(key, scenario)
        if key not in self._stacks:
            overrides = dict(scenario.stack.sut_overrides) or None
            target = scenario.external_target()  # a scenario's own target: its external stack
            manager = open_stack(self.settings, self.backend, sut_overrides=overrides,
                                 report=self.report, target=target)  # fmt: skip
            stack = manager.__enter__()  # closed by release(), with the error that ended it
            self._stacks[key] = (manager, stack)
            self._backend_used, self._toxiproxy = stack.backend, stack.toxiproxy.version()
            self.target = self.target or Target.model_validate(target_identity(stack, target))
        return self._stacks[key][1]

    def _restart_sut(self, key: Key, scenario: Scenario) -> None:
        """An open reference stack that can restart its SUT is given this scenario's overrides
        and moves to its key: the dependencies stay up (one bring-up per run, not per group)."""
        for other, (_manager, stack) in list(self._stacks.items()):
            if stack.restart_sut is not None:  # an external stack (a target's) never can
                self._stacks[key] = self._stacks.pop(other)  # torn down under `key` if it fails
                stack.restart_sut(dict(scenario.stack.sut_overrides) or None)
                return

    def fresh_sut(self, scenario: Scenario) -> bool:
        """Restart the SUT of `scenario`'s open stack on fresh data, dependencies kept up
        (`chaosgate explore` between schedules: a schedule can break the SUT's own state, a
        leaked pool say, which no Toxiproxy reset repairs). False: no open stack, or its
        backend cannot restart the SUT."""
        opened = self._stacks.get(overrides_key(scenario))
        if opened is None or opened[1].restart_sut is None:
            return False
        try:
            opened[1].restart_sut(dict(scenario.stack.sut_overrides) or None)
        except StackError as error:
            self._failed[overrides_key(scenario)] = f"stack failed: {error}"
            self.release(overrides_key(scenario), error)
            return False
        return True

    def reusable(self, key: Key) -> bool:
        """The stack of `key` can serve the next group with other overrides (keep it open)."""
        opened = self._stacks.get(key)
        return opened is not None and opened[1].restart_sut is not None

    def _run_on(self, stack: Stack, scenario: Scenario) -> ScenarioResult:
        found = restore_clean(stack)
        self.report(f"scenario {scenario.name}: running ({scenario.duration_s:g} s of load)")
        result = run_scenario(stack, scenario, self.settings, self.out_dir / scenario.name,
                              self.progress)  # fmt: skip
        left = restore_clean(stack)  # also CHECKS: raises when Toxiproxy stays dirty
        if found:  # left by an earlier scenario (already judged) or by start-up
            result.events.append(Event(t_s=0.0, kind="cleanup", message="; ".join(found)))
        return left_dirty(result, left) if left else result

    def release(self, key: Key, error: BaseException | None = None) -> None:
        """Tear down the stack of `key` (if open), telling it the error that ended it."""
        opened = self._stacks.pop(key, None)
        if opened is None:
            return
        if error is None:
            opened[0].__exit__(None, None, None)
        else:
            opened[0].__exit__(type(error), error, error.__traceback__)

    def close(self) -> None:
        for key in list(self._stacks):
            self.release(key)

    def result(self, *running: ScenarioResult) -> RunResult:
        """The run's record; `running`: results of scenarios still going (a checkpoint's)."""
        scenarios = [*self.results, *running]
        status, exit_code = overall(scenarios)
        meta = RunMetadata(
            run_id=self.run_id,
            started_at=self.started,
            ended_at=time.time(),
            chaosgate_version=__version__,
            commit=commit(),
            command=self.command,
            backend=self._backend_used,
            seed=next((s.seed for s in self.seen if s.seed is not None), self._seed),
            machine=machine(),
            versions={**versions(), **({"toxiproxy": self._toxiproxy} if self._toxiproxy else {})},
        )
        return RunResult(run=meta, target=self.target, status=status, exit_code=exit_code,
                         scenarios=scenarios)  # fmt: skip


def _groups(scenarios: list[Scenario]) -> list[list[Scenario]]:
    groups: dict[Key, list[Scenario]] = {}
    for scenario in scenarios:
        groups.setdefault(overrides_key(scenario), []).append(scenario)
    return list(groups.values())


def run_all(
    scenarios: list[Scenario],
    settings: HarnessSettings,
    *,
    backend: str,
    out_dir: Path,
    run_id: str,
    command: str = "",
    report: Report = print,
    progress: bool = True,
) -> RunResult:
    """Every scenario, grouped by `sut_overrides` (first appearance order), one stack open at
    a time; raises `RunInterrupted` (with the result so far) on Ctrl-C."""
    session = RunSession(settings, backend=backend, out_dir=out_dir, run_id=run_id,
                         command=command, report=report, progress=progress)  # fmt: skip
    interrupted = False
    try:
        for group in _groups(scenarios):
            for scenario in group:
                if interrupted:  # the scenarios after the interrupted one never start
                    session.skip(scenario, f"{INTERRUPTED} before it started")
                    continue
                try:
                    session.run(scenario)
                except KeyboardInterrupt:  # the stack is torn down by now
                    interrupted = True
                    done = sum(1 for r in session.results if r.invalid_reason != INTERRUPTED)
                    report(f"interrupted: {done} scenario(s) done; writing the result so far")
            if not session.reusable(overrides_key(group[0])):
                session.release(overrides_key(group[0]))
    finally:
        session.close()
    run = session.result()
    if interrupted:  # the record says what the process exits with
        raise RunInterrupted(run.model_copy(update={"exit_code": EXIT_INTERRUPTED}))
    return run
