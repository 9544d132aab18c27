"""Shared fixtures for the report tests: the recorded results and a CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaosgate.cli import main
from reports.load import load_result
from reports.model import RunResult

HERE = Path(__file__).parent
# Every recorded result: the generated pass/fail/invalid ones and any real run added later
# (`result_<name>.json`); each is rendered by every renderer test.
RESULTS = {path.stem.removeprefix("result_"): path for path in sorted(HERE.glob("result*.json"))}


@dataclass(frozen=True)
class CliOutcome:
    code: int
    out: str
    err: str


@pytest.fixture
def result_path() -> Callable[[str], Path]:
    return RESULTS.__getitem__


@pytest.fixture(params=sorted(RESULTS))
def any_result(request: pytest.FixtureRequest) -> tuple[str, RunResult]:
    return request.param, load_result(RESULTS[request.param])


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliOutcome]:
    """Run `chaosgate ARGS...` through the real entry point; the exit code and output."""

    def run(*args: str | Path) -> CliOutcome:
        capsys.readouterr()
        try:
            returned = main([str(a) for a in args])
            code = 0 if returned is None else int(returned)
        except SystemExit as exited:
            code = exited.code if isinstance(exited.code, int) else 1
        captured = capsys.readouterr()
        return CliOutcome(code, captured.out, captured.err)

    return run


SNAPSHOTS = HERE / "snapshots"
UPDATE_ENV = "CHAOSGATE_UPDATE_SNAPSHOTS"


@pytest.fixture
def snapshot() -> Callable[[str, str], None]:
    """Compare text with the committed `snapshots/NAME`; rewrite it when
    CHAOSGATE_UPDATE_SNAPSHOTS=1 (then review `git diff tests/reports/snapshots`)."""
    import os

    def check(name: str, text: str) -> None:
        path = SNAPSHOTS / name
        if os.environ.get(UPDATE_ENV) == "1":
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"no snapshot {path}; create it with {UPDATE_ENV}=1"
        expected = path.read_text(encoding="utf-8")
        assert text == expected, (
            f"{name} changed; if intended, rerun with {UPDATE_ENV}=1 and review the diff"
        )

    return check


@pytest.fixture(autouse=True)
def _no_real_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under GitHub Actions the tests must not write into the job's real summary.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
