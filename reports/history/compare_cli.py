"""The `--against history[:N]` side of `chaosgate compare` (reports.cli keeps `BASE NEW`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from chaosgate.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])


def history_against_options(command: F) -> F:
    for option in reversed(
        (
            click.option(
                "--against",
                metavar="history[:N]",
                help="judge NEW (the one argument) against the last N stored comparable runs "
                "(default N 10, at least 3)",
            ),
            click.option(
                "--history",
                "history_store",
                metavar="PATH|URL",
                help="with --against: the store (default: $CHAOSGATE_HISTORY, else the state dir's)",
            ),
            click.option(
                "--baseline-label", help="with --against: only stored runs with this --label"
            ),
            click.option(
                "--confidence",
                default="0.95",
                show_default=True,
                help="with --against: family-wise confidence a regression needs",
            ),
        )
    ):  # fmt: skip  (reversed: click lists the last decorator first)
        command = option(command)
    return command


def compare_against_history(first: Path, second: Path | None, out: Path | None, fmt: str,
                            against: str | None, history_store: str | None,
                            baseline_label: str | None, confidence: str | None) -> int:  # fmt: skip
    """Exit code: 0 no regression, 1 a regression, 3 NEW invalid, 2 bad input."""
    from reports.history.against import compare_with_history, parse_against, render_markdown
    from reports.history.store import configured_location, open_store
    from reports.load import load_result

    if against is None:
        raise InputError("compare needs BASE and NEW, or --against history[:N] and NEW")
    if second is not None:
        raise InputError(f"compare --against {against} takes one result (NEW), not two")
    if fmt != "markdown":
        raise InputError("compare --against writes markdown only (--format markdown)")
    try:
        level = float(confidence or "")
    except ValueError:
        level = -1.0
    if not 0.5 <= level < 1:
        raise InputError(f"--confidence {confidence!r}: expected a fraction in [0.5, 1), e.g. 0.95")
    last = parse_against(against)
    new = load_result(first)
    location, _ = configured_location(history_store)
    if location is None:
        raise InputError(
            "compare --against history: history is switched off; name a store with --history"
        )
    comparison = compare_with_history(new, open_store(location), last, level, baseline_label)
    text = render_markdown(comparison)
    if out is None:
        click.echo(text, nl=False)
    else:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as error:
            raise InputError(f"{out}: cannot write: {error.strerror or error}") from None
    return comparison.exit_code
