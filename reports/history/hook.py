"""`--history` / `--label` on `run`, `replay` and `load`, and `remember(result)`: the one call
each command makes once its RunResult is final and its result.json written.

A store the user named (`--history`, CHAOSGATE_HISTORY) that cannot take the run is exit 2
with the reason (the result file is already written; the message gives the run's own verdict);
the default store failing is a warning: remembering never changes a verdict.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from chaosgate.errors import InputError
from reports.model import RunResult

F = TypeVar("F", bound=Callable[..., Any])
LABEL_ENV = "CHAOSGATE_LABEL"
_HISTORY, _LABEL = "chaosgate.history", "chaosgate.label"


def _keep(key: str) -> Callable[[click.Context, click.Parameter, str | None], None]:
    def callback(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
        ctx.meta[key] = value

    return callback


def history_options(command: F) -> F:
    """`--history PATH|URL|off` and `--label NAME`, kept in the click context for `remember`."""
    command = click.option(
        "--label",
        expose_value=False,
        callback=_keep(_LABEL),
        help=f"branch or release label stored with the run (default: ${LABEL_ENV})",
    )(command)
    return click.option(
        "--history",
        expose_value=False,
        callback=_keep(_HISTORY),
        metavar="PATH|URL|off",
        help="results store: an SQLite file or postgresql://... (default: $CHAOSGATE_HISTORY, "
        "else history.sqlite in chaosgate's state dir); off stores nothing",
    )(command)


def remember(result: RunResult) -> None:
    """Append `result` to the configured store (see the module docstring for failures)."""
    from reports.history.record import run_record
    from reports.history.store import configured_location, open_store

    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    location, explicit = configured_location(meta.get(_HISTORY))
    if location is None:
        return
    label = meta.get(_LABEL) or os.environ.get(LABEL_ENV) or None
    try:
        store = open_store(location)
        stored = store.append(run_record(result, label))
    except InputError as error:
        if explicit:
            raise InputError(
                f"{error.message} (run {result.run.run_id} itself: {result.status.upper()}, "
                f"exit {result.exit_code}; its result.json is written)",
                hint=error.hint,
            ) from None
        click.secho(
            f"chaosgate: warning: run not remembered: {error.message}", fg="yellow", err=True
        )
        return
    if stored:
        click.echo(f"history: run {result.run.run_id} stored in {store.where}", err=True)
