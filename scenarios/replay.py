"""`chaosgate replay RESULT.json`: re-run the scenarios a result recorded, here, and put each
KPI's verdict then and now side by side.

A result carries every scenario as it was validated (`ScenarioResult.scenario`: load plan,
seed, fault schedule, KPIs, SUT overrides); replay loads it back through the same validation
as a scenario file, so a CI artifact becomes a local run in one command.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from chaosgate.cli import settings_options, stack_option
from chaosgate.errors import ScenarioError
from reports.history.hook import history_options, remember
from reports.model import Event, KpiVerdict, RunResult
from scenarios.loader import scenario_from_data
from scenarios.schema import Scenario

if TYPE_CHECKING:
    from chaosgate.settings import HarnessSettings


def recorded_scenarios(
    result: RunResult, source: str, names: tuple[str, ...] = ()
) -> list[Scenario]:
    """The scenarios `result` recorded (only `names`, when given), validated again."""
    scenarios = []
    for index, recorded in enumerate(result.scenarios):
        if names and recorded.name not in names:
            continue
        if recorded.scenario is None:
            raise ScenarioError(
                f"{source}: scenarios[{index}] ({recorded.name}) carries no scenario definition",
                hint="results written by `chaosgate run` since replay exists do; `chaosgate load` results do not",
            )
        scenarios.append(
            scenario_from_data(recorded.scenario, f"{source}: scenarios[{index}].scenario")
        )
    if not scenarios:
        known = ", ".join(s.name for s in result.scenarios) or "none"
        raise ScenarioError(
            f"{source}: no scenario to replay (asked: {', '.join(names)}; recorded: {known})"
        )
    return scenarios


@dataclass(frozen=True)
class Row:
    scenario: str
    expression: str
    then: KpiVerdict | None
    now: KpiVerdict | None

    @property
    def same(self) -> bool:
        """The verdict reproduced: both pass, both fail, or both lack evidence (INVALID and
        FAIL are different verdicts: one is about the run, the other about the SUT)."""
        return (
            self.then is not None and self.now is not None and self.then.status == self.now.status
        )


def side_by_side(recorded: RunResult, replayed: RunResult) -> list[Row]:
    """One row per KPI of the replayed scenarios, matched by scenario name and expression."""
    then = {(s.name, k.expression): k for s in recorded.scenarios for k in s.kpis}
    rows = []
    for scenario in replayed.scenarios:
        now = {k.expression: k for k in scenario.kpis}
        expressions = [e for (name, e) in then if name == scenario.name]
        expressions += [e for e in now if e not in expressions]
        for expression in expressions:
            rows.append(
                Row(
                    scenario.name,
                    expression,
                    then.get((scenario.name, expression)),
                    now.get(expression),
                )
            )
    return rows


def _cell(verdict: KpiVerdict | None) -> str:
    if verdict is None:
        return "[yellow]— (no verdict)[/]"
    measured = "—" if verdict.measured is None else f"{verdict.measured:.4g} {verdict.unit}"
    word = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]"}.get(
        verdict.status, "[yellow]INVALID (insufficient)[/]"
    )
    return f"{measured} {word}"


def comparison_table(rows: list[Row], recorded: RunResult, replayed: RunResult) -> Table:
    table = Table(
        title=f"replay of {recorded.run.run_id} ({recorded.status}) → {replayed.run.run_id} ({replayed.status})"
    )
    for column in ("scenario", "KPI", "then", "now", "same verdict"):
        table.add_column(column)
    for row in rows:
        same = "[green]yes[/]" if row.same else "[red]NO[/]"
        table.add_row(row.scenario, row.expression, _cell(row.then), _cell(row.now), same)
    return table


@click.command()
@click.argument("result_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--scenario", "names", multiple=True, help="replay only this scenario (repeatable)")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="reports directory")
@stack_option
@history_options
@settings_options
@click.pass_context
def replay(
    ctx: click.Context,
    result_file: Path,
    names: tuple[str, ...],
    out: Path | None,
    stack: str | None,
    settings: HarnessSettings,
) -> None:
    """Re-run the scenarios recorded in RESULT_FILE on a stack here; verdicts then vs now.

    Exits like `chaosgate run` does for the new run (0 / 1 / 3); 2 for a result without a
    scenario definition."""
    from reports.load import load_result
    from reports.renderers import write_reports
    from scenarios.orchestrator import RunInterrupted, new_run_id, run_all
    from scenarios.stop_signals import terminate_as_interrupt

    recorded = load_result(result_file)
    scenarios = recorded_scenarios(recorded, str(result_file), names)
    console = Console(width=None if sys.stdout.isatty() else 160)
    run_id = new_run_id()
    run_dir = (out or settings.reports_dir) / run_id
    note = f"replay of run {recorded.run.run_id} ({result_file})"
    with terminate_as_interrupt() as stops:  # Ctrl-C or SIGTERM: the record so far, then 130
        try:
            result = run_all(scenarios, settings, backend=settings.backend, out_dir=run_dir, run_id=run_id,
                             command=shlex.join(["chaosgate", *sys.argv[1:]]), report=lambda line: console.print(line),
                             progress=sys.stderr.isatty())  # fmt: skip
        except RunInterrupted as stopped:
            with stops.hold():
                for scenario in stopped.result.scenarios:
                    scenario.events.insert(0, Event(t_s=0.0, kind="note", message=note))
                write_reports(stopped.result, run_dir)
                console.print(
                    f"result (interrupted by {stops.stopped_by}): {run_dir / 'result.json'}"
                )
            raise click.exceptions.Abort() from None
    for scenario in result.scenarios:
        scenario.events.insert(0, Event(t_s=0.0, kind="note", message=note))
    write_reports(result, run_dir)
    remember(result)  # the results store (reports.history)
    rows = side_by_side(recorded, result)
    console.print(comparison_table(rows, recorded, result))
    same = sum(row.same for row in rows)
    console.print(
        f"reproduced {same}/{len(rows)} KPI verdict(s); result: {run_dir / 'result.json'}"
    )
    ctx.exit(result.exit_code)
