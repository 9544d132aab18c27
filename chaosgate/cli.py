"""`chaosgate` command line. Subcommands live beside the code they drive and load lazily,
so `chaosgate report` never pays for importing Locust or Testcontainers."""

from __future__ import annotations

import functools
import importlib
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from chaosgate import __version__
from chaosgate.errors import EXIT_BAD_INPUT, EXIT_HARNESS_ERROR, ChaosgateError
from chaosgate.stacks import STACKS

# command name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "up": "fixtures.cli:up",
    "inject": "fixtures.cli:inject",
    "heal": "fixtures.cli:heal",
    "down": "fixtures.down_cli:down",
    "run": "scenarios.cli:run",
    "list": "scenarios.cli:list_command",
    "init": "scenarios.init_cli:init",
    "bench": "scenarios.bench.cli:bench",
    "report": "reports.cli:report",
    "compare": "reports.cli:compare",
    "history": "reports.history.cli:history",
    "load": "scenarios.live_cli:load",
    "capacity": "scenarios.capacity_cli:capacity",
    "explore": "scenarios.explore_cli:explore",
    "replay": "scenarios.replay:replay",
    "deploy": "fixtures.deploy.cli:deploy",
}


F = TypeVar("F", bound=Callable[..., Any])
_BACKEND_ALIAS = "chaosgate.backend_alias"


def _backend_alias(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        click.echo("chaosgate: --backend is deprecated; use --stack", err=True)
        ctx.meta[_BACKEND_ALIAS] = value


def _stack_or_alias(ctx: click.Context, _: click.Parameter, value: str | None) -> str | None:
    # click handles options in command-line order, then the rest: a given --backend is seen
    # before an absent --stack; a given --stack wins over it
    return value if value is not None else ctx.meta.get(_BACKEND_ALIAS)


def stack_option(command: F) -> F:
    """`--stack` (which backend runs the stack; default: settings) as the parameter `stack`,
    the same on every command and in pytest. `--backend`, its old name on `run` and `replay`,
    still works, hidden and deprecated."""
    command = click.option(
        "--backend",
        type=click.Choice(STACKS),
        hidden=True,
        expose_value=False,
        callback=_backend_alias,
    )(command)
    return click.option(
        "--stack",
        type=click.Choice(STACKS),
        default=None,
        callback=_stack_or_alias,
        help="stack backend (default: the settings' backend, auto)",
    )(command)


def settings_options(command: F) -> F:
    """`--config FILE` on a command that reads harness settings, and those settings resolved
    ONCE before its body (flag > environment > file > default; chaosgate/settings.py) and
    passed down as its parameter `settings`. The command's own `--stack` / `--stack-config`, when
    it has them, are the flags of that resolution; nothing under it resolves settings again."""

    @functools.wraps(command)
    def resolved(*args: Any, config: Path | None, **kwargs: Any) -> Any:
        from chaosgate.settings import load_settings

        flags = {"backend": kwargs.get("stack"), "stack_config": kwargs.get("stack_config")}
        return command(*args, settings=load_settings(config, **flags), **kwargs)

    return cast(F, click.option(
        "--config",
        type=click.Path(path_type=Path, dir_okay=False),
        help="harness settings file (default: CHAOSGATE_CONFIG, else ./chaosgate.yaml if present)",
    )(resolved))  # fmt: skip


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command), target
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chaosgate")
def cli() -> None:
    """Prove or refute a service stack's KPIs under load and injected faults.

    Exit codes: 0 all KPIs hold, 1 a KPI failed, 2 bad input or configuration,
    3 the run is invalid (stack failed, generator behind, fault not taken effect),
    4 harness error (a chaosgate bug; the traceback is saved to a file).
    """


def save_traceback(error: BaseException) -> str:
    """Write the full traceback to a fresh temp file; its path."""
    handle, path = tempfile.mkstemp(prefix="chaosgate-traceback-", suffix=".txt")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(f"chaosgate {__version__}: {' '.join(sys.argv)}\n")
        out.write("".join(traceback.format_exception(error)))
    return path


def _harness_error(error: Exception) -> None:
    """One line on stderr, the traceback in a file, exit 4."""
    try:
        where = f"traceback saved to {save_traceback(error)}"
    except OSError as unsaved:  # say so rather than lose the one line
        where = f"traceback not saved ({unsaved.strerror or unsaved})"
    summary = " ".join(f"{type(error).__name__}: {error}".split())[:300]
    click.secho(
        f"chaosgate: harness error (a chaosgate bug): {summary}; {where}", fg="red", err=True
    )
    sys.exit(EXIT_HARNESS_ERROR)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: every ChaosgateError becomes one clear message and its exit code."""
    try:
        return cli.main(args=argv, standalone_mode=False)
    except ChaosgateError as error:
        click.secho(f"chaosgate: {error}", fg="red", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("chaosgate: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_BAD_INPUT if error.exit_code == 2 else error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except Exception as error:  # anything else is our bug: exit 4, never 1 ("a KPI failed")
        _harness_error(error)


if __name__ == "__main__":
    sys.exit(main())
