"""The console verdict table: what `chaosgate run` prints, and the `console` renderer
(`verdict.txt` in a run's directory, `chaosgate report --format console`) as plain text."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from reports import view
from reports.model import RunResult

WIDTH = 160  # the plain-text record's width (a CI log's, not the terminal's)


def verdict_table(result: RunResult) -> Table:
    table = Table(title=f"chaosgate run {result.run.run_id}: {result.status.upper()}")
    for column in ("scenario", "KPI", "measured", "threshold", "verdict"):
        table.add_column(column)
    for scenario in result.scenarios:
        if scenario.status == "invalid":
            table.add_row(
                scenario.name,
                "(run invalid)",
                "",
                "",
                f"[yellow]invalid: {scenario.invalid_reason}[/]",
            )
        for row in (view.KpiRow(scenario, kpi) for kpi in scenario.kpis):
            kpi = row.kpi
            measured = "—" if kpi.measured is None else f"{kpi.measured:.4g} {kpi.unit}"
            if note := row.note:
                measured += f" — {note}"
            word = row.word + (" (aborted)" if kpi.aborted_run and row.word == "FAIL" else "")
            colour = {"pass": "green", "fail": "red"}.get(row.outcome, "yellow")
            if kpi.status == "insufficient":
                colour = "yellow"
            table.add_row(scenario.name, kpi.expression, measured, f"{kpi.comparator} {kpi.threshold:g} {kpi.unit}",
                          f"[{colour}]{word}[/]")  # fmt: skip
        for error in view.error_rows(scenario):  # why requests failed: "84 % errors: 401 x 602"
            table.add_row(scenario.name, f"[dim]{error.name}[/]", f"[red]{error.text()}[/]", "", "")
        for measure in scenario.recoveries:
            recovery = "never" if measure.recovery_s is None else f"{measure.recovery_s:.2f} s"
            if measure.recovery_s is None and measure.cut_short_by:
                recovery = f"not before {measure.cut_short_by} was injected"
            detect = "never" if measure.detect_s is None else f"{measure.detect_s:.2f} s"
            detect += f" by {measure.detected_by}" if measure.detected_by else ""
            if measure.restart_s is not None:
                recovery += f" (restart itself {measure.restart_s:.2f} s)"
            table.add_row(
                scenario.name,
                f"[dim]{measure.fault}: detected {detect}, recovered {recovery}[/]",
                "",
                "",
                "",
            )
    return table


def render_console(result: RunResult) -> str:
    """The verdict table as plain text (no colour codes)."""
    console = Console(file=io.StringIO(), width=WIDTH, color_system=None, record=True)
    console.print(verdict_table(result))
    return console.export_text()
