"""pytest plugin: YAML scenarios collected as items, the `fault` and `load` fixtures, suite markers.

`pytest scenarios/` collects every scenario YAML under a `scenarios/` folder as ONE item (marked
`scenario` plus its tags `release`/`smoke`), whose failure lists each broken KPI. Items share a
stack per `sut_overrides` for the session. Python scenarios use `stack` (fixtures plugin),
`fault` and `load`. Heavy imports happen only when an item or fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fixtures.stack import Stack
    from reports.model import ScenarioResult
    from scenarios.load.run import LoadRun
    from scenarios.schema import Scenario

SUITE_MARKERS = ("release", "smoke")
_STACKS = pytest.StashKey[dict[Any, "Stack"]]()
_EXIT = pytest.StashKey[ExitStack]()


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "scenario: end-to-end gate scenarios",
        "release: the release gate suite",
        "smoke: the quick subset of the release gate",
    ):
        config.addinivalue_line("markers", line)
    config.stash[_STACKS] = {}
    config.stash[_EXIT] = ExitStack()


@pytest.hookimpl(tryfirst=True)  # before any leftover check looks for our processes
def pytest_sessionfinish(session: pytest.Session) -> None:
    session.config.stash[_EXIT].close()


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
        from chaosgate.settings import load_settings
        from fixtures.clean import restore_clean
        from scenarios.orchestrator import new_run_id
        from scenarios.runner import run_scenario

        settings = load_settings()
        stack = _shared_stack(self.config, self.scenario)
        restore_clean(stack)
        out = settings.reports_dir / f"pytest-{new_run_id()}" / self.scenario.name
        result = run_scenario(stack, self.scenario, settings, out, progress=False)
        restore_clean(stack)
        (out / "result.json").parent.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(result.model_dump_json(indent=1))
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


def _shared_stack(config: pytest.Config, scenario: Scenario) -> Stack:
    from chaosgate.settings import load_settings
    from fixtures.backends import open_stack
    from scenarios.schema import overrides_key

    stacks = config.stash[_STACKS]
    key = overrides_key(scenario)
    if key not in stacks:
        settings = load_settings()
        backend = config.getoption("--stack", default=None) or settings.backend
        overrides = dict(scenario.stack.sut_overrides) or None
        stacks[key] = config.stash[_EXIT].enter_context(
            open_stack(
                settings, backend, sut_overrides=overrides, target=scenario.external_target()
            )
        )
    return stacks[key]


@pytest.fixture
def fault(stack: Stack) -> Iterator[Callable[..., AbstractContextManager[None]]]:
    """`with fault("latency", "postgres", latency_ms=300): ...` applies, verifies, undoes."""
    from chaosgate.settings import load_settings
    from fixtures.faults import FaultContext, build_fault

    context = FaultContext(stack, load_settings().timeouts)

    def make(kind: str, target: str, **attributes: Any) -> AbstractContextManager[None]:
        return build_fault(kind, target, attributes).active(context)

    yield make
    context.stop.set()


@pytest.fixture
def load(stack: Stack, tmp_path: Path) -> Iterator[Callable[..., LoadRun]]:
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
        )
        runs.append(run.start())
        return run

    yield start
    for run in runs:
        if any(p.is_running() for p in run.processes):
            run.stop()
