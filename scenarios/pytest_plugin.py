"""pytest plugin: YAML scenarios collected as items, the `fault` and `load` fixtures, suite markers.

`pytest scenarios/` collects every scenario YAML under a `scenarios/` folder as ONE item (marked
`scenario` plus its tags `release`/`smoke`), whose failure lists each broken KPI. The items run
in ONE `RunSession` (scenarios.orchestrator), as `chaosgate run` does: a stack per
`sut_overrides` for the session, clean checks, a stack error -> INVALID, and at the end one
result written by every renderer to `<reports_dir>/pytest-<run-id>/` (a renderer that fails
makes the session exit 3, internal error). Python scenarios use `stack` (fixtures plugin),
`fault` and `load`. Heavy imports happen only when an item or fixture is used.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from chaosgate.settings import HarnessSettings
    from fixtures.stack import Stack
    from reports.model import ScenarioResult
    from scenarios.load.run import LoadRun
    from scenarios.orchestrator import RunSession
    from scenarios.schema import Scenario

SUITE_MARKERS = ("release", "smoke")
_SESSION = pytest.StashKey["RunSession | None"]()


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "scenario: end-to-end gate scenarios",
        "release: the release gate suite",
        "smoke: the quick subset of the release gate",
    ):
        config.addinivalue_line("markers", line)
    config.stash[_SESSION] = None


@pytest.hookimpl(tryfirst=True)  # before any leftover check looks for our processes
def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash[_SESSION]
    if run is None:  # no scenario item ran
        return
    session.config.stash[_SESSION] = None
    run.close()  # the stacks first: nothing of ours outlives the session
    _write_reports(session, run)


def _write_reports(session: pytest.Session, run: RunSession) -> None:
    from chaosgate.cli import save_traceback
    from reports.renderers import write_reports

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    try:
        write_reports(run.result(), run.out_dir)
        line, red = f"chaosgate: result and reports in {run.out_dir}", False
    except Exception as error:  # a chaosgate bug: the session errors, loudly
        line, red = f"chaosgate: harness error: {error}; traceback: {save_traceback(error)}", True
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    if reporter is not None:
        reporter.write_line(line, red=red)
    else:
        print(line, file=sys.stderr)


def _session(config: pytest.Config) -> RunSession:
    """The run session of this pytest session, made by the first scenario item."""
    run = config.stash[_SESSION]
    if run is None:
        from fixtures.pytest_plugin import session_settings
        from scenarios.orchestrator import RunSession, new_run_id

        settings = session_settings(config)
        backend = settings.backend
        run_id = new_run_id()
        run = config.stash[_SESSION] = RunSession(
            settings, backend=backend, out_dir=settings.reports_dir / f"pytest-{run_id}",
            run_id=run_id, command="pytest", report=_stderr, progress=False,
        )  # fmt: skip
    return run


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and "scenarios" in file_path.parts[:-1]:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from scenarios.loader import load_scenario

        scenario = load_scenario(
            self.path
        )  # a ScenarioError shows as a collection error, file:line
        item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
        item.add_marker("scenario")
        for tag in scenario.tags:
            if tag in SUITE_MARKERS:
                item.add_marker(tag)
        yield item


class KpiFailure(Exception):
    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(result.name)
        self.result = result


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        from chaosgate.errors import RunInvalid

        result = _session(self.config).run(self.scenario)
        if result.status == "invalid":
            raise RunInvalid(f"run invalid: {result.invalid_reason}")
        if result.status == "fail":
            raise KpiFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, KpiFailure):
            lines = [f"scenario {self.scenario.name}: KPIs failed"]
            for kpi in excinfo.value.result.kpis:
                mark = "ok  " if kpi.passed else "FAIL"
                lines.append(f"  {mark} {kpi.expression}  [{kpi.window}]  {kpi.message}")
            return "\n".join(lines)
        return (
            str(excinfo.value)
            if excinfo.errisinstance(Exception)
            else super().repr_failure(excinfo)
        )

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.scenario.name}"


@pytest.fixture
def fault(
    stack: Stack, chaosgate_settings: HarnessSettings
) -> Iterator[Callable[..., AbstractContextManager[None]]]:
    """`with fault("latency", "postgres", latency_ms=300): ...` applies, verifies, undoes."""
    from fixtures.faults import FaultContext, build_fault

    context = FaultContext(stack, chaosgate_settings.timeouts)

    def make(kind: str, target: str, **attributes: Any) -> AbstractContextManager[None]:
        return build_fault(kind, target, attributes).active(context)

    yield make
    context.stop.set()


@pytest.fixture
def load(
    stack: Stack, tmp_path: Path, chaosgate_settings: HarnessSettings
) -> Iterator[Callable[..., LoadRun]]:
    """`run = load(users=["api"], rate=[RateStep(rps=20, hold_s=10)])` starts a LoadRun on the
    stack; `run.wait()` gives the outcome. Stopped at teardown if still running."""
    import time

    from scenarios.load.plan import LoadPlan
    from scenarios.load.run import LoadRun

    runs: list[LoadRun] = []

    def start(plan: LoadPlan | None = None, **fields: Any) -> LoadRun:
        run = LoadRun(
            plan or LoadPlan(**fields),
            stack.sut_url,
            time.time(),
            tmp_path / f"load-{len(runs)}",
            progress=False,
            timeouts=chaosgate_settings.timeouts,
        )
        runs.append(run.start())
        return run

    yield start
    for run in runs:
        if any(p.is_running() for p in run.processes):
            run.stop()


def _stderr(line: str) -> None:
    """Stack and scenario progress lines: pytest shows them with a failed item."""
    print(line, file=sys.stderr)
