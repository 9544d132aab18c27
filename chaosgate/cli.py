"""`chaosgate` command line. Subcommands live beside the code they drive and load lazily,
so `chaosgate report` never pays for importing Locust or Testcontainers."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from chaosgate import __version__
from chaosgate.errors import EXIT_BAD_INPUT, ChaosgateError

# command name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "up": "fixtures.cli:up",
    "inject": "fixtures.cli:inject",
    "heal": "fixtures.cli:heal",
    "run": "scenarios.cli:run",
    "list": "scenarios.cli:list_command",
    "bench": "scenarios.bench.cli:bench",
    "report": "reports.cli:report",
    "compare": "reports.cli:compare",
    "deploy": "fixtures.deploy.cli:deploy",
}


def _module_exists(target: str) -> bool:
    try:
        return importlib.util.find_spec(target.split(":")[0]) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, target in COMMANDS.items() if _module_exists(target))

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
    3 the run is invalid (stack failed, generator behind, fault not taken effect).
    """


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


if __name__ == "__main__":
    main()
