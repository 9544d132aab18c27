"""`chaosgate capacity SCENARIO`: the highest arrival rate at which the scenario's KPIs hold.

Steps (scenarios.capacity_step) run on ONE stack (RunSession keeps it up: every step has the
scenario's target and SUT overrides); the search is scenarios.capacity. Written like a run:
`<out>/<run-id>/result.json` (the steps are its scenarios) and its reports, plus
capacity.json / .svg / .html (knee, saturation, curve). Exit 0: the search concluded (a knee,
or the max rate held, or even the min rate broke) and the scenario's `capacity(...) >= N rps`
KPIs hold on its knee; 1: one of them does not; 3: INVALID steps prevented a conclusion;
2: bad input (unknown --kpi / --during, no baseline KPI and no --kpi, --max-rps below a
capacity KPI's N).
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from chaosgate.cli import settings_options, stack_option
from chaosgate.errors import EXIT_BAD_INPUT, EXIT_INVALID, EXIT_KPI_FAILED, EXIT_OK

if TYPE_CHECKING:
    from chaosgate.settings import HarnessSettings


@click.command()
@click.argument("scenario_name")
@click.option("--kpi", "kpis", multiple=True, help="a KPI to hold (default: the baseline ones)")
@click.option(
    "--during", help="hold this fault on: a fault of the scenario, or TARGET:KIND[:key=value,...]"
)
@click.option(
    "--min-rps",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="the first step's rate",
)
@click.option(
    "--max-rps",
    type=click.FloatRange(min=0, min_open=True),
    help="the highest rate tried (if it holds: capacity is at least this)"
    " [default: a capacity KPI's N, else 2000]",
)
@click.option("--step-s", type=click.FloatRange(min=1), default=10.0, show_default=True,
              help="shortest judged load per step (lengthened until each KPI's planned n is 2x its floor)")  # fmt: skip
@click.option("--resolution", default=0.10, show_default=True, type=click.FloatRange(0.01, 1),
              help="bisect until first fail - knee <= this x knee (or 5 rps)")  # fmt: skip
@stack_option
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="reports directory")
@settings_options
@click.pass_context
def capacity(ctx: click.Context, scenario_name: str, kpis: tuple[str, ...], during: str | None,
             min_rps: float, max_rps: float | None, step_s: float, resolution: float, stack: str | None,
             out: Path | None, settings: HarnessSettings) -> None:  # fmt: skip
    """Find the highest rate at which SCENARIO's KPIs hold (the knee); exit 0 / 1 / 2 / 3.

    1: a capacity(...) >= N rps KPI of the scenario does not hold on the knee.
    """
    from scenarios.capacity import SearchConfig
    from scenarios.capacity_step import CapacityInputError, step_plan
    from scenarios.loader import resolve

    console = Console(width=None if sys.stdout.isatty() else 160)
    [scenario] = resolve([scenario_name], None)
    try:
        plan = step_plan(scenario, list(kpis), during, step_s)
    except CapacityInputError as error:
        click.echo(f"chaosgate capacity: {error}", err=True)
        ctx.exit(EXIT_BAD_INPUT)
    floor = plan.capacity_floor  # a capacity KPI's N: holding it is all the KPI asks
    if max_rps is None:
        max_rps = floor or 2000.0
    elif floor is not None and max_rps < floor:
        click.echo(f"chaosgate capacity: --max-rps {max_rps:g} is below {floor:g} rps, the"
                   " capacity KPI's bound: it could never be shown", err=True)  # fmt: skip
        ctx.exit(EXIT_BAD_INPUT)
    if min_rps > max_rps:
        console.print(f"chaosgate capacity: --min-rps {min_rps:g} is above --max-rps {max_rps:g}")
        ctx.exit(EXIT_BAD_INPUT)
    config_ = SearchConfig(min_rps=min_rps, max_rps=max_rps, resolution=resolution)
    ctx.exit(_search(plan, config_, settings, out, console))


def _search(plan: object, config: object, settings: object, out: Path | None, console: Console) -> int:  # fmt: skip
    from chaosgate.settings import HarnessSettings
    from reports.renderers import write_reports
    from scenarios import capacity_report
    from scenarios.capacity import Judged, SearchConfig, StepVerdict, search
    from scenarios.capacity_settle import PROBE_HOLD_S, Idle, settle
    from scenarios.capacity_step import Point, StepPlan, point, verdict
    from scenarios.orchestrator import RunSession

    assert isinstance(plan, StepPlan)
    assert isinstance(config, SearchConfig)
    assert isinstance(settings, HarnessSettings)
    session = RunSession.for_command(settings, out, report=lambda line: None, progress=False)
    run_dir, command = session.out_dir, session.command
    points: list[Point] = []
    runs: dict[float, int] = {}
    console.print(f"capacity of {plan.base.name}: holding {'; '.join(plan.kpis)}")

    idle: list[Idle] = []  # the first passing step: the SUT at rest
    backlog: list[float] = []  # the rate of the last step that failed or was INVALID
    probes = itertools.count(1)

    def probe() -> Point:
        suffix = f"-settle{next(probes)}"  # a name of its own in result.json
        result = session.run(plan.scenario(config.min_rps, PROBE_HOLD_S, suffix))
        found = point(config.min_rps, result, plan)
        console.print(f"settling after {backlog[-1]:g} rps: probe p50 {found.p50_ms or 0:.1f} ms, errors {found.error_rate:.1%}")  # fmt: skip
        return found

    def run_step(rate: float) -> StepVerdict:
        if backlog and idle:
            unsettled = settle(idle[0], probe, settings.timeouts.settle_s, backlog[-1], rate)
            if unsettled is not None:
                console.print(f"step {rate:g} rps: INVALID ({unsettled.reason})")
                return unsettled
            backlog.clear()
        runs[rate] = runs.get(rate, 0) + 1
        hold = plan.hold_s(rate)
        suffix = f"-run{runs[rate]}" if runs[rate] > 1 else ""
        console.print(
            f"step {rate:g} rps: {hold:g} s of judged load{' (again)' if suffix else ''}..."
        )
        result = session.run(plan.scenario(rate, hold, suffix))
        found = verdict(rate, result)
        points.append(point(rate, result, plan))
        p = points[-1]
        latency = "—" if p.p95_ms is None else f"p95 {p.p95_ms:.1f} ms"
        margin = "" if found.margin is None else f", margin {found.margin:+.0%}"
        why = {"fail": f" ({found.broke})", "invalid": f" ({found.reason})"}.get(found.status, "")
        console.print(f"step {rate:g} rps: {found.status.upper()}{why}: {latency}, errors {p.error_rate:.1%}{margin}")  # fmt: skip
        if found.status == "pass" and not idle and p.p50_ms is not None:
            idle.append(Idle(p.p50_ms, p.error_rate))
        if found.status != "pass":
            backlog.append(rate)
        return found

    def judged(decision: Judged) -> None:
        if len(decision.attempts) > 1:
            console.print(f"step {decision.rate:g} rps decided {decision.status.upper()} over {len(decision.attempts)} runs")  # fmt: skip

    try:
        outcome = search(run_step, config, judged)
    except KeyboardInterrupt:  # the steps so far are still a record (the stack is down by now)
        session.close()
        write_reports(session.result(), run_dir)
        console.print(f"interrupted after {len(points)} step(s): {run_dir / 'result.json'}")
        raise click.exceptions.Abort() from None
    finally:
        session.close()
    checks = capacity_report.judge_checks(outcome, plan)
    failed = any(not v.passed for v in checks)
    exit_code = EXIT_INVALID if not outcome.concluded else EXIT_KPI_FAILED if failed else EXIT_OK
    status = {EXIT_OK: "pass", EXIT_KPI_FAILED: "fail"}.get(exit_code, "invalid")
    result = session.result().model_copy(update={"status": status, "exit_code": exit_code})
    write_reports(result, run_dir)
    record = capacity_report.summary(outcome, points, plan, command, checks)
    capacity_report.write(run_dir, record, points)
    console.print(capacity_report.steps_table(points))
    console.print(capacity_report.knee_text(record))
    console.print(capacity_report.saturation_text(record))
    for check in checks:
        console.print(f"{check.status.upper()}: {check.expression}: {check.message}", markup=False)
    console.print(f"result: {run_dir / 'result.json'}; curve: {run_dir / 'capacity.html'}")
    return exit_code
