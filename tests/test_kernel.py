"""The harness kernel: exit codes, settings validation, CLI error mapping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaosgate import errors
from chaosgate.cli import main
from chaosgate.settings import load_settings

pytestmark = pytest.mark.unit


def test_every_error_branch_maps_to_its_exit_code() -> None:
    assert errors.ScenarioError("x").exit_code == errors.EXIT_BAD_INPUT
    assert errors.PrerequisiteMissing("x").exit_code == errors.EXIT_BAD_INPUT
    assert errors.ReadinessTimeout("x").exit_code == errors.EXIT_INVALID
    assert errors.FaultNotEffective("x").exit_code == errors.EXIT_INVALID


def test_expression_error_points_a_caret_at_the_problem() -> None:
    error = errors.ExpressionError("p95(GET /) < 200xs", 15, "unknown unit 'xs'")
    lines = str(error).splitlines()
    assert lines[-1].index("^") - 4 == 15


def test_settings_file_with_a_bad_key_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "chaosgate.yaml"
    config.write_text("timeouts:\n  startup_s: -1\n")
    with pytest.raises(errors.ConfigError, match=r"timeouts\.startup_s"):
        load_settings(config)


def test_environment_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "chaosgate.yaml"
    config.write_text("backend: containers\n")
    monkeypatch.setenv("CHAOSGATE_BACKEND", "local")
    assert load_settings(config).backend == "local"


def test_a_flag_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # `run --stack local` with CHAOSGATE_BACKEND=containers in the environment: the flag wins
    monkeypatch.setenv("CHAOSGATE_BACKEND", "containers")
    assert load_settings(backend="local").backend == "local"


def test_one_environment_timeout_keeps_the_files_other_timeouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "chaosgate.yaml"
    config.write_text("timeouts:\n  startup_s: 90\n  teardown_s: 3\n")
    monkeypatch.setenv("CHAOSGATE_TIMEOUTS__HTTP_S", "4")
    timeouts = load_settings(config).timeouts
    assert (timeouts.startup_s, timeouts.teardown_s, timeouts.http_s) == (90, 3, 4)


def test_a_bad_environment_value_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOSGATE_TIMEOUTS__HTTP_S", "-1")
    with pytest.raises(errors.ConfigError, match=r"timeouts\.http_s"):
        load_settings()


def test_missing_explicit_settings_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


def test_cli_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["no-such-command"])
    assert exited.value.code == errors.EXIT_BAD_INPUT


@pytest.mark.parametrize("module", ["chaosgate", "chaosgate.cli"])
def test_python_dash_m_exits_with_the_verdict_code(module: str, tmp_path: Path) -> None:
    """`main()` returns the verdict's code; `python -m` must exit with it (a FAIL read 0)."""
    base = Path(__file__).parent / "reports" / "result_pass.json"
    failing = Path(__file__).parent / "reports" / "result_fail.json"
    done = subprocess.run(
        [sys.executable, "-m", module, "compare", str(base), str(failing)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout[-800:] + done.stderr[-800:]


def test_the_stack_option_has_one_name_on_every_command() -> None:
    """`run --backend` against `up --stack` was two names for one choice."""
    from click.testing import CliRunner

    from chaosgate.cli import cli

    for command in ("up", "run", "replay"):
        shown = CliRunner().invoke(cli, [command, "--help"]).stdout
        assert "--stack [auto|local|containers|external]" in shown, command
        assert "--backend" not in shown, command  # the old name is hidden


def test_the_old_backend_flag_still_works_and_says_it_is_deprecated() -> None:
    import click
    from click.testing import CliRunner

    from chaosgate.cli import stack_option

    @click.command()
    @stack_option
    def show(stack: str | None) -> None:
        click.echo(str(stack))

    def chosen(*args: str) -> tuple[str, bool]:
        result = CliRunner().invoke(show, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout.strip(), "deprecated" in result.stderr

    assert chosen() == ("None", False)
    assert chosen("--stack", "local") == ("local", False)
    assert chosen("--backend", "containers") == ("containers", True)
    assert chosen("--backend", "containers", "--stack", "local") == ("local", True)
    assert chosen("--stack", "local", "--backend", "containers") == ("local", True)


def test_keep_proxies_is_a_setting_like_every_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was read from the environment by fixtures/external_proxies.py alone: no file key, and
    a typo (`CHAOSGATE_KEEP_PROXIES=flase`) silently meant "keep"."""
    monkeypatch.delenv("CHAOSGATE_KEEP_PROXIES", raising=False)
    assert load_settings().keep_proxies is True
    config = tmp_path / "chaosgate.yaml"
    config.write_text("keep_proxies: false\n")
    assert load_settings(config).keep_proxies is False
    monkeypatch.setenv("CHAOSGATE_KEEP_PROXIES", "1")
    assert load_settings(config).keep_proxies is True  # the environment beats the file
    monkeypatch.setenv("CHAOSGATE_KEEP_PROXIES", "flase")
    with pytest.raises(errors.ConfigError, match=r"CHAOSGATE_KEEP_PROXIES: keep_proxies"):
        load_settings()


# every command that reads harness settings, with arguments its parser accepts
SETTINGS_COMMANDS = {
    "run": ["baseline"],
    "replay": ["result.json"],
    "capacity": ["baseline"],
    "explore": ["baseline"],
    "load": [],
    "up": [],
    "inject": ["postgres", "latency", "latency_ms=100"],
    "heal": [],
    "down": [],
}


@pytest.mark.parametrize("command", sorted(SETTINGS_COMMANDS))
def test_every_command_that_reads_settings_takes_config_and_resolves_it_first(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only `run` and `capacity` took --config ("no such option" elsewhere); the file is read
    once, before the command does anything, so a bad one is exit 2 at its file:line."""
    bad = tmp_path / "settings.yaml"
    bad.write_text("timeouts:\n  startup_s: -1\n")
    with pytest.raises(SystemExit) as exited:
        main([command, *SETTINGS_COMMANDS[command], "--config", str(bad)])
    assert exited.value.code == errors.EXIT_BAD_INPUT
    said = capsys.readouterr().err
    assert f"{bad}:2" in said, said
    assert "startup_s" in said, said


# What each top-level package may import of the others: the kernel nothing; the reference SUT
# no harness code (DESIGN.md); reports (model, KPIs, renderers) the kernel; the stack (fixtures)
# the kernel and the SUT's own config; scenarios (what to run) all three below it.
LAYERS: dict[str, set[str]] = {
    "chaosgate": set(),
    "sut": set(),
    "reports": {"chaosgate"},
    "fixtures": {"chaosgate", "sut"},
    "scenarios": {"chaosgate", "fixtures", "reports"},
    "examples": {"chaosgate"},
}


def _imports(path: Path) -> set[str]:
    """The top-level packages `path` imports, at module level or inside a function."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_no_package_imports_one_above_it() -> None:
    """fixtures/ never imports scenarios/, nor reports/ either: the layers of LAYERS. On the
    old code fixtures/deploy/k8s.py imported scenarios.load.plan (the shape of a load plan is
    the kernel's now, chaosgate/loadplan.py)."""
    root = Path(__file__).resolve().parents[1]
    upward = []
    for package, allowed in LAYERS.items():
        for path in sorted((root / package).rglob("*.py")):
            for imported in sorted(_imports(path) & LAYERS.keys() - {package} - allowed):
                upward.append(f"{path.relative_to(root)} imports {imported}")
    assert upward == []
