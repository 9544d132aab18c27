"""`chaosgate explore SCENARIO --budget 20m [--seed N]`: search fault schedules for a failure.

Every schedule runs on ONE stack (RunSession keeps it up; the stack is reset and checked clean
between runs, and the SUT restarted on fresh data where the backend can: a schedule may break the
SUT's own state). Writes `<out>/<run-id>/`: result.json and its reports (every run a scenario),
explore.json / explore.html (the search), findings/<name>.yaml (each minimal failing schedule,
`chaosgate run` takes it). Exit 0: no finding; 1: a finding (confirmed, shrunk and
verified); 2: bad input;
3: no schedule gave a verdict (every run invalid).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from chaosgate.cli import settings_options, stack_option
from chaosgate.errors import EXIT_BAD_INPUT, EXIT_INVALID, EXIT_KPI_FAILED, EXIT_OK

if TYPE_CHECKING:
    from chaosgate.settings import HarnessSettings


def _names(value: str | None) -> list[str]:
    return [n.strip() for n in (value or "").split(",") if n.strip()]


@click.command()
@click.argument("scenario_name")
@click.option(
    "--budget", default="20m", show_default=True, help="wall time for the search (30s, 20m, 1h)"
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**31 - 1),
    help="the same seed, the same schedules (default: random, printed)",
)
@click.option("--kinds", help="fault kinds to draw, comma-separated (default: the catalog)")
@click.option(
    "--targets", help="targets to draw, comma-separated (default: every edge and process)"
)
@click.option(
    "--max-faults",
    type=click.IntRange(1, 6),
    default=3,
    show_default=True,
    help="faults per schedule",
)
@click.option(
    "--max-overlap",
    type=click.IntRange(1, 3),
    default=3,
    show_default=True,
    help="faults active at once",
)
@click.option("--min-for-s", type=click.FloatRange(1, 600), default=3.0, show_default=True)
@click.option("--max-for-s", type=click.FloatRange(1, 600), default=15.0, show_default=True)
@click.option("--recovery-s", type=click.FloatRange(1, 600), default=30.0, show_default=True,
              help="the recovery promise every fault is judged on (the plan's: 30 s)")  # fmt: skip
@click.option("--max-schedules", type=click.IntRange(0), default=0, show_default=True,
              help="stop after this many schedules (0: use the budget)")  # fmt: skip
@click.option(
    "--max-findings",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="stop after this many (0: use the budget)",
)
@stack_option
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="reports directory")
@settings_options
@click.pass_context
def explore(ctx: click.Context, scenario_name: str, budget: str, seed: int | None, kinds: str | None,
            targets: str | None, max_faults: int, max_overlap: int, min_for_s: float, max_for_s: float,
            recovery_s: float, max_schedules: int, max_findings: int, stack: str | None, out: Path | None, settings: HarnessSettings) -> None:  # fmt: skip
    """Search fault schedules on SCENARIO's stack and load; shrink a failure to a scenario."""
    from fixtures.faults import REGISTRY
    from scenarios.explore_scenario import explore_plan, explore_space
    from scenarios.load.plan import parse_duration
    from scenarios.loader import resolve

    def bad(message: str) -> None:
        click.echo(f"chaosgate explore: {message}", err=True)
        ctx.exit(EXIT_BAD_INPUT)

    [scenario] = resolve([scenario_name], None)
    try:
        budget_s = parse_duration(budget)
    except ValueError as error:
        bad(f"--budget: {error}")
    unknown = [k for k in _names(kinds) if k not in REGISTRY]
    if unknown:
        bad(f"--kinds: unknown {', '.join(unknown)}; known: {', '.join(sorted(REGISTRY))}")
    if min_for_s > max_for_s:
        bad(f"--min-for-s {min_for_s:g} is above --max-for-s {max_for_s:g}")
    plan = explore_plan(scenario, recovery_s)
    if not scenario.steady_checks():
        bad(f"{scenario.name} has no baseline KPI to judge recovery on (add steady_state)")
    space = explore_space(scenario, _names(kinds), _names(targets), max_faults=max_faults,
                          max_overlap=max_overlap, min_for_s=min_for_s, max_for_s=max_for_s,
                          recovery_s=recovery_s)  # fmt: skip
    if not space.pairs():
        bad("no (kind, target) pair left to draw: check --kinds / --targets against the stack")
    seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    ctx.exit(_search(plan, space, seed, budget_s, (max_schedules, max_findings), settings, out))


def _search(plan: object, space: object, seed: int, budget_s: float, limits: tuple[int, int],
            settings: object, out: Path | None) -> int:  # fmt: skip
    from chaosgate.settings import HarnessSettings
    from reports.renderers import write_reports
    from scenarios import explore_report
    from scenarios.explore import Space
    from scenarios.explore_run import Explorer
    from scenarios.explore_scenario import ExplorePlan
    from scenarios.orchestrator import RunSession
    from scenarios.schema import Scenario

    assert isinstance(plan, ExplorePlan)
    assert isinstance(space, Space)
    assert isinstance(settings, HarnessSettings)
    console = Console(width=None if sys.stdout.isatty() else 160)
    session = RunSession.for_command(settings, out, report=lambda line: None, progress=False)
    run_dir, command = session.out_dir, session.command
    warned: list[bool] = []

    def run(scenario: Scenario) -> object:
        if session.results and not session.fresh_sut(scenario) and not warned:
            warned.append(True)
            console.print("note: this stack cannot restart its SUT between schedules: a schedule"
                          " that breaks the SUT's own state can taint the next one")  # fmt: skip
        return session.run(scenario)

    console.print(f"explore {plan.base.name}: seed {seed}, budget {budget_s:g} s, "
                  f"{len(space.pairs())} kind x target pair(s), up to {space.max_faults} fault(s),"
                  f" {space.max_overlap} at once; re-run with --seed {seed}")  # fmt: skip
    explorer = Explorer(plan, space, seed, budget_s, run, run_dir,  # type: ignore[arg-type]
                        max_schedules=limits[0], max_findings=limits[1], say=console.print, command=command)  # fmt: skip
    _warn_short_evidence(plan, space, console)
    interrupted = False
    try:
        search = explorer.explore()
    except KeyboardInterrupt:  # the runs so far are still a record (the stack is down by now)
        interrupted, search = True, explorer.search
        search.stopped_by = "interrupted"
    finally:
        session.close()
    findings = [f for f in search.findings if f.found]
    judged = [a for a in search.attempts if a.status != "invalid"]
    exit_code = EXIT_KPI_FAILED if findings else (EXIT_OK if judged else EXIT_INVALID)
    status = {EXIT_KPI_FAILED: "fail", EXIT_OK: "pass"}.get(exit_code, "invalid")
    result = session.result().model_copy(update={"status": status, "exit_code": exit_code})
    write_reports(result, run_dir)
    data = explore_report.record(search, command)
    as_json, as_html = explore_report.write(run_dir, data)
    cov = data["coverage"]
    console.print(f"{data['schedules_tried']} schedule(s), {data['runs']} run(s) in {data['spent_s']:g} s;"
                  f" coverage {cov['cells_covered']}/{cov['cells_possible']} cells, "
                  f"{cov['pairs_covered']}/{cov['pairs_possible']} kind x target pairs;"
                  f" {len(findings)} finding(s), {len(data['flaky'])} flaky")  # fmt: skip
    for finding in findings:
        console.print(f"finding: {finding.scenario_file}")
    console.print(f"search: {as_json}, {as_html}")
    if interrupted:
        raise click.exceptions.Abort()
    return exit_code


def _warn_short_evidence(plan: object, space: object, console: Console) -> None:
    """A schedule whose first fault starts at the window's start has the shortest baseline:
    say so when its KPIs would be planned below their evidence floor (such runs are INVALID)."""
    from scenarios.explore import Space
    from scenarios.explore_scenario import ExplorePlan
    from scenarios.planned_n import plan as planned

    assert isinstance(plan, ExplorePlan)
    assert isinstance(space, Space)
    earliest = space.probe(*space.pairs()[0])  # a kind may require attributes (bandwidth)
    for p in planned(plan.scenario(earliest, "check")):
        if p.short:
            console.print(f"note: {p.expression}: planned {p.planned:.0f} samples when a fault"
                          f" starts at {space.start_s:g}s, a verdict needs {p.needed}: such"
                          " schedules may be INVALID (raise the rate or lengthen the baseline)")  # fmt: skip
