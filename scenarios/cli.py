"""`chaosgate run` and `chaosgate list`.

`run` validates EVERY named scenario before any stack starts (bad input: exit 2), runs them,
writes `<out>/<run-id>/result.json` plus the rendered reports, prints a verdict table and
exits 0 (all KPIs hold), 1 (a KPI failed), 3 (run invalid); 4 when a report renderer fails
(a chaosgate bug: every other report is still written).
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from chaosgate.cli import settings_options, stack_option
from chaosgate.settings import HarnessSettings
from reports.console import verdict_table
from reports.history.hook import history_options, remember
from reports.model import RunResult
from reports.renderers import write_reports
from scenarios.loader import load_scenario, resolve, shipped_scenarios
from scenarios.stop_signals import terminate_as_interrupt

_STYLE = {"pass": "green", "fail": "red", "invalid": "yellow"}


@click.command()
@click.argument("items", nargs=-1)
@click.option(
    "--suite", type=click.Choice(["smoke", "release"]), help="the shipped scenarios with this tag"
)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="reports directory")
@stack_option
@click.option(
    "--baseline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="compare with this result.json",
)
@click.option(
    "--tolerance",
    default="10%",
    show_default=True,
    help="with --baseline: allowed worsening, e.g. 10% or 0.1",
)
@click.option(
    "--allow-changed",
    is_flag=True,
    help="with --baseline: compare scenarios whose definitions differ (else exit 3)",
)
@click.option("--check", is_flag=True, help="only validate the scenarios (exit 0 or 2)")
@history_options
@settings_options
@click.pass_context
def run(ctx: click.Context, items: tuple[str, ...], suite: str | None, out: Path | None, stack: str | None,
        baseline: Path | None, tolerance: str, allow_changed: bool, check: bool,
        settings: HarnessSettings) -> None:  # fmt: skip
    """Run scenarios (files, shipped names, or --suite) and decide: exit 0 / 1 / 2 / 3.

    With --baseline, a regression beyond --tolerance turns a passing run into exit 1."""
    from reports.compare import parse_tolerance
    from reports.load import load_result

    # every file validated before anything starts (--check: and each KPI's planned n)
    scenarios = resolve(list(items), suite, planned=check)
    # a bad baseline or tolerance is bad input: say so before a stack starts, not after the run
    base = load_result(baseline) if baseline is not None else None
    allowed = parse_tolerance(tolerance)
    console = Console(width=None if sys.stdout.isatty() else 160)
    if check:
        console.print(f"{len(scenarios)} scenario(s) valid: {', '.join(s.name for s in scenarios)}")
        return
    from scenarios.orchestrator import RunInterrupted, new_run_id, run_all

    run_id = new_run_id()
    run_dir = (out or settings.reports_dir) / run_id
    with terminate_as_interrupt() as stops:  # SIGTERM (a CI cancel) leaves the record Ctrl-C does
        try:
            result = run_all(scenarios, settings, backend=settings.backend, out_dir=run_dir, run_id=run_id,
                             command=shlex.join(["chaosgate", *sys.argv[1:]]), report=lambda line: console.print(line),
                             progress=sys.stderr.isatty())  # fmt: skip
        except RunInterrupted as stopped:  # the record of what ran, then exit 130 (click.Abort)
            with stops.hold():
                write_reports(stopped.result, run_dir)
                console.print(
                    f"result (interrupted by {stops.stopped_by}): {run_dir / 'result.json'}"
                )
            raise click.exceptions.Abort() from None
        with stops.hold():
            write_reports(result, run_dir)
    console.print(verdict_table(result))
    remember(result)  # the results store (reports.history); never changes the verdict
    exit_code = result.exit_code
    if base is not None:
        regression_exit = _compare(base, result, allowed, run_dir, console, allow_changed)
        exit_code = exit_code or regression_exit  # invalid (3) and failed (1) stay as they are
    console.print(f"result: {run_dir / 'result.json'}")
    ctx.exit(exit_code)


def _compare(
    base: RunResult,
    result: RunResult,
    tolerance: float,
    run_dir: Path,
    console: Console,
    allow_changed: bool = False,
) -> int:
    """Write compare.md and print it; the comparison's exit code (1 on a regression)."""
    from reports.compare import compare_results
    from reports.compare_render import render_comparison_markdown

    comparison = compare_results(base, result, tolerance, allow_changed)
    text = render_comparison_markdown(comparison)
    (run_dir / "compare.md").write_text(text)
    console.print(text)
    return comparison.exit_code


@click.command("list")
def list_command() -> None:
    """Shipped scenarios and fault kinds."""
    from fixtures.faults import REGISTRY

    console = Console()
    scenarios = Table(title="shipped scenarios (chaosgate run NAME | --suite smoke|release)")
    for column in ("name", "tags", "load s", "faults", "description"):
        scenarios.add_column(column)
    for name, path in shipped_scenarios().items():
        scenario = load_scenario(path)
        faults = ", ".join(f"{f.fault}@{f.target}" for f in scenario.faults) or "—"
        scenarios.add_row(
            name, ",".join(scenario.tags), f"{scenario.duration_s:g}", faults, scenario.description
        )
    console.print(scenarios)
    kinds = Table(title="fault kinds")
    for column in ("kind", "target", "attributes", "what it does"):
        kinds.add_column(column)
    for kind, cls in sorted(REGISTRY.items()):
        fields = ", ".join(f.name for f in dataclasses.fields(cls) if f.name != "target")
        kinds.add_row(kind, cls.targets, fields, cls.description)
    console.print(kinds)
