"""`chaosgate history` (per scenario and KPI, the values over the stored runs; `--html` a trend
page) and `chaosgate history import DIR` (result.json files -> the store)."""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from chaosgate.errors import InputError
from reports.history.store import KpiPoint, Store, configured_location, open_store

_MARK = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "insufficient": "[yellow]?[/]"}


def _store(history: str | None) -> Store:
    location, _ = configured_location(history)
    if location is None:
        raise InputError(
            "history is switched off (CHAOSGATE_HISTORY=off); name a store with --history"
        )
    return open_store(location)


def _value(point: KpiPoint) -> str:
    number = "—" if point.measured is None else f"{point.measured:.4g}"
    return f"{number}{_MARK.get(point.status, '')}"


def history_table(points: list[KpiPoint], title: str) -> Table:
    """One row per (scenario, KPI): its values oldest -> newest with verdict marks."""
    grouped: dict[tuple[str, str], list[KpiPoint]] = defaultdict(list)
    for point in points:
        grouped[(point.scenario, point.expression)].append(point)
    table = Table(title=title)
    for column in ("scenario", "KPI", "runs", "values, oldest → newest (✓ pass ✗ fail ? too few samples)",
                   "median", "last n", "last SUT versions"):  # fmt: skip
        table.add_column(column)
    for (scenario, expression), series in grouped.items():
        measured = [p.measured for p in series if p.measured is not None]
        median = f"{statistics.median(measured):.4g} {series[-1].unit}" if measured else "—"
        versions = list(dict.fromkeys(p.sut_version or "?" for p in series))
        table.add_row(scenario, expression, str(len(series)), " ".join(_value(p) for p in series),
                      median, str(series[-1].samples if series[-1].samples is not None else "—"),
                      ", ".join(versions[-4:]))  # fmt: skip
    return table


@click.group(invoke_without_command=True)
@click.option(
    "--history",
    metavar="PATH|URL",
    help="the store (default: $CHAOSGATE_HISTORY, else the state dir's)",
)
@click.option("--scenario", help="only this scenario")
@click.option("--kpi", help="only this KPI expression (exactly as written)")
@click.option("--sut-version", help="only runs of this SUT version")
@click.option("--label", help="only runs stored with this --label")
@click.option("--html", "html", type=click.Path(path_type=Path, dir_okay=False),
              help="also write an HTML page with one trend plot per KPI")  # fmt: skip
@click.pass_context
def history(ctx: click.Context, history: str | None, scenario: str | None, kpi: str | None,
            sut_version: str | None, label: str | None, html: Path | None) -> None:  # fmt: skip
    """Every run remembered: per scenario and KPI, the values over the stored runs.

    Exit 0 once shown; 2 for a store that cannot be read (it is left as it is)."""
    ctx.obj = history
    if ctx.invoked_subcommand is not None:
        return
    store = _store(history)
    points = store.kpi_points(scenario, kpi, sut_version, label)
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(history_table(points, f"chaosgate history: {store.where}"))
    if not points:
        console.print("no stored runs match")
    if html is not None:
        from reports.history.trend import write_trend_page

        write_trend_page(points, html, store.where)
        click.echo(f"wrote {html}", err=True)


@history.command("import")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--label", help="label the imported runs")
@click.pass_context
def import_command(ctx: click.Context, directory: Path, label: str | None) -> None:
    """Load every result.json under DIRECTORY (recursively) into the store.

    A run id already stored is skipped; an unreadable file is counted bad and named.
    Exit 0 when nothing was bad, 2 otherwise (what could be imported is imported)."""
    from reports.history.record import run_record
    from reports.load import load_result

    store = _store(ctx.obj)
    imported = skipped = bad = 0
    for path in sorted(directory.rglob("result.json")):
        try:
            result = load_result(path)
        except InputError as error:
            bad += 1
            click.echo(f"bad: {error.message}", err=True)
            continue
        if store.append(run_record(result, label)):
            imported += 1
        else:
            skipped += 1
    click.echo(f"imported {imported}, skipped {skipped} (already stored), bad {bad} "
               f"into {store.where}")  # fmt: skip
    ctx.exit(2 if bad else 0)
