"""One run session for `chaosgate run` and the pytest plugin: a stack error is INVALID in both,
both write every report through the one renderer registry, and a renderer that fails is an
error (exit 4 from the CLI, an internal error from pytest), never a skipped file.

The stack is a fake (no processes): `open_stack` and `run_scenario` are replaced in
`scenarios.orchestrator`, so these pin the session's rules, not a backend's behaviour.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest

import fixtures.backends
import reports.html
import scenarios.orchestrator as orchestrator
import scenarios.runner
from chaosgate.cli import main
from chaosgate.errors import EXIT_HARNESS_ERROR, StackError
from fixtures.stack import ServiceControl, Stack
from fixtures.toxiproxy import ToxiproxyAdapter
from reports.load import load_result
from reports.model import ScenarioResult
from scenarios.schema import Scenario

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _own_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files chaosgate puts in the temp dir (a saved traceback, a start log) stay in tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


SCENARIO = """\
name: {name}
load:
  users: [api]
  rate: [{{rps: 5, hold_s: 5}}]
kpis:
  - error_rate(*) < 1%
{extra}"""
REPORTS = ("result.json", "report.html", "junit.xml", "summary.md")


class FakeToxiproxy:
    base_url = "http://127.0.0.1:1"

    def version(self) -> str:
        return "2.12.0"

    def dirty(self) -> list[str]:
        return []

    def reset(self) -> None:
        pass


class FakeProcess:
    def __init__(self, name: str) -> None:
        self.name = name

    def is_running(self) -> bool:
        return True

    def is_paused(self) -> bool:
        return False


def fake_stack(url: str) -> Stack:
    return Stack(
        backend="local",
        toxiproxy=cast(ToxiproxyAdapter, FakeToxiproxy()),
        sut_url="http://127.0.0.1:2",
        sut_direct_url=url,
        controls={"backend": cast(ServiceControl, FakeProcess("backend"))},
    )


def passed(_stack: Stack, scenario: Scenario, *_args: Any, **_kwargs: Any) -> ScenarioResult:
    return ScenarioResult(name=scenario.name, status="pass", t0=time.time(), duration_s=5.0)


def replace(monkeypatch: pytest.MonkeyPatch, open_stack: Any, run_scenario: Any = passed) -> None:
    """Both where the session takes them and where a plugin could import them itself (as
    the plugin did before the session: then these tests must fail, not start a real stack)."""
    for module in (orchestrator, fixtures.backends):
        monkeypatch.setattr(module, "open_stack", open_stack)
    for module in (orchestrator, scenarios.runner):
        monkeypatch.setattr(module, "run_scenario", run_scenario)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any] | None]:
    """Every stack the session opens (its sut_overrides); each scenario 'passes'."""
    calls: list[dict[str, Any] | None] = []

    @contextmanager
    def open_stack(*_args: Any, sut_overrides: Any = None, **_kwargs: Any) -> Iterator[Stack]:
        calls.append(sut_overrides)
        yield fake_stack(f"http://127.0.0.1:{8000 + len(calls)}")

    replace(monkeypatch, open_stack)
    return calls


def write_scenarios(pytester: pytest.Pytester, **extra: str) -> None:
    folder = pytester.mkdir("scenarios")
    for name, more in extra.items():
        (folder / f"{name}.yaml").write_text(SCENARIO.format(name=name, extra=more))


def run_pytest(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> tuple[pytest.RunResult, Path]:
    reports_dir = pytester.path / "out"
    monkeypatch.setenv("CHAOSGATE_REPORTS_DIR", str(reports_dir))
    # the inner session's own ini: pytest-asyncio warns without a loop scope
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    outcome = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--stack", "local", "scenarios"
    )
    return outcome, reports_dir


def only_run_dir(reports_dir: Path) -> Path:
    [run_dir] = list(reports_dir.glob("pytest-*"))
    return run_dir


def test_pytest_plugin_maps_a_stack_error_to_invalid(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextmanager
    def broken(*_args: Any, **_kwargs: Any) -> Iterator[Stack]:
        raise StackError("postgres did not become ready in 30 s")
        yield  # a generator, like the real one

    replace(monkeypatch, broken)
    write_scenarios(pytester, first="", second="")
    outcome, reports_dir = run_pytest(pytester, monkeypatch)
    outcome.assert_outcomes(failed=2)
    outcome.stdout.fnmatch_lines(["*run invalid: stack failed: postgres did not become ready*"])
    result = load_result(only_run_dir(reports_dir) / "result.json")
    assert result.status == "invalid"
    assert result.exit_code == 3
    assert [s.status for s in result.scenarios] == ["invalid", "invalid"]
    assert all(
        (s.invalid_reason or "").startswith("stack failed: postgres") for s in result.scenarios
    )


def test_pytest_plugin_writes_every_report_with_stacks_per_overrides(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, opened: list[Any]
) -> None:
    tuned = "stack:\n  sut_overrides: {cache.dashboard_ttl_s: 2}\n"
    write_scenarios(pytester, a_plain="", b_tuned=tuned, c_plain="")
    outcome, reports_dir = run_pytest(pytester, monkeypatch)
    outcome.assert_outcomes(passed=3)
    assert opened == [None, {"cache.dashboard_ttl_s": 2}]  # the plain ones share one stack
    run_dir = only_run_dir(reports_dir)
    for name in REPORTS:
        assert (run_dir / name).stat().st_size > 0, name
    result = load_result(run_dir / "result.json")
    assert [s.name for s in result.scenarios] == ["a_plain", "b_tuned", "c_plain"]
    assert result.target is not None
    assert (result.target.url, result.target.stack) == ("http://127.0.0.1:8001", "local")
    assert "http://127.0.0.1:8001" in (run_dir / "report.html").read_text()
    outcome.stdout.fnmatch_lines([f"chaosgate: result and reports in {run_dir}"])


def boom(_result: Any) -> str:
    raise RuntimeError("the template is broken")


def test_pytest_plugin_errors_when_a_renderer_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, opened: list[Any]
) -> None:
    monkeypatch.setattr(reports.html, "render_html", boom)
    write_scenarios(pytester, only="")
    outcome, reports_dir = run_pytest(pytester, monkeypatch)
    assert outcome.ret == pytest.ExitCode.INTERNAL_ERROR
    outcome.stdout.fnmatch_lines(["*harness error*html: RuntimeError: the template is broken*"])
    run_dir = only_run_dir(reports_dir)
    assert not (run_dir / "report.html").exists()
    assert (run_dir / "junit.xml").exists()  # the others are still written


def test_cli_run_exits_4_when_a_renderer_fails_and_writes_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[Any]
) -> None:
    monkeypatch.setattr(reports.html, "render_html", boom)
    scenario = tmp_path / "one.yaml"
    scenario.write_text(SCENARIO.format(name="one", extra=""))
    with pytest.raises(SystemExit) as exited:
        main(["run", str(scenario), "--out", str(tmp_path / "out"), "--stack", "local"])
    assert exited.value.code == EXIT_HARNESS_ERROR
    [run_dir] = list((tmp_path / "out").iterdir())
    written = {p.name for p in run_dir.iterdir()}
    assert {"result.json", "junit.xml", "summary.md"} <= written
    assert "report.html" not in written
    assert json.loads((run_dir / "result.json").read_text())["status"] == "pass"


def test_cli_run_and_pytest_share_the_session(opened: list[Any], tmp_path: Path) -> None:
    """run_all is the session over groups: one stack open at a time, the stack's target."""
    from chaosgate.settings import load_settings
    from scenarios.loader import scenario_from_data

    def scenario(name: str, **overrides: Any) -> Scenario:
        data: dict[str, Any] = {"name": name, "load": {"users": ["api"], "rate": [{"rps": 5, "hold_s": 5}]},
                                "kpis": ["error_rate(*) < 1%"], "stack": {"sut_overrides": overrides}}  # fmt: skip
        return scenario_from_data(data)

    report: Callable[[str], None] = lambda _line: None  # noqa: E731
    result = orchestrator.run_all(
        [scenario("a"), scenario("b", **{"cache.dashboard_ttl_s": 2}), scenario("c")],
        load_settings(),
        backend="local",
        out_dir=tmp_path,
        run_id="r",
        report=report,
    )
    assert opened == [None, {"cache.dashboard_ttl_s": 2}]
    assert [s.name for s in result.scenarios] == ["a", "c", "b"]  # grouped, first appearance
    assert result.target is not None
    assert result.target.url == "http://127.0.0.1:8001"
    assert (result.status, result.run.backend) == ("pass", "local")


def test_run_metadata_is_built_by_the_run_session_alone() -> None:
    """One builder of a run's record: every command opens its run through `RunSession`. On the
    old code `chaosgate load` built its own `RunMetadata` (scenarios/live_cli.py)."""
    import ast

    root = Path(__file__).resolve().parents[2]
    builders = []
    for path in sorted([*root.glob("scenarios/**/*.py"), *root.glob("chaosgate/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "RunMetadata":
                builders.append(str(path.relative_to(root)))
    assert builders == ["scenarios/orchestrator.py"]
