"""`chaosgate load`: the command (options, the result it writes). The loop is scenarios.live."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chaosgate.cli import settings_options
from chaosgate.settings import HarnessSettings
from reports.history.hook import history_options, remember
from reports.model import Event, ScenarioResult, Status
from scenarios.checkpoint import CHECKPOINT_S, PARTIAL, Checkpoint
from scenarios.live import LiveLoad, display, fault_phases, resolve_target
from scenarios.live_web import WEB_STOP, stopped_in_web_ui
from scenarios.load.plan import LoadPlan, RateStep, parse_duration
from scenarios.stop_signals import terminate_as_interrupt

if TYPE_CHECKING:
    from scenarios.orchestrator import RunSession

FOREVER_S = 7 * 24 * 3600.0  # "until Ctrl-C": the schedule must end somewhere


def build_plan(users: str, rate: float, duration: str | None, arrival: str, seed: int,
               concurrency: int | None, ws_clients: int, workers: int = 1) -> LoadPlan:  # fmt: skip
    """The open-model plan: `rate` req/s from the first second, for `duration` or a week."""
    hold = parse_duration(duration) if duration is not None else FOREVER_S
    names = [u.strip() for u in users.split(",") if u.strip()]
    return LoadPlan(
        users=names,
        rate=[RateStep(rps=rate, hold_s=hold)],
        arrival=arrival,
        seed=seed,
        # an outage holds slots for its whole latency: room for two seconds of sends
        concurrency=concurrency or max(20, round(2 * rate)),
        websocket_clients=ws_clients if "websocket" in names else 0,
        websocket_rps=max(rate / 10, 1.0) if "websocket" in names else 0.0,
        workers=workers,
    )


def partial_result(name: str, description: str, t0: float, live: LiveLoad,
                   every_s: float) -> ScenarioResult:  # fmt: skip
    """The record so far while the load runs (scenarios.checkpoint): the seconds whose sends
    are all back, the faults and probes seen; INVALID, a run that did not end is no verdict."""
    collector = live.run.collector
    collector.poll()
    through = collector.recorded_through_s(live.run.plan.workers)
    series = [b for b in collector.series() if through is not None and b.end_s <= through]
    now_s = time.time() - t0
    events = [Event(t_s=0.0, kind="load.start", message=f"{name}: {live.target.sut_url}")]
    events += live.events
    end_s = round(max([now_s, *(e.t_s for e in events)]), 3)
    reason = (
        f"{PARTIAL} at {now_s:.0f} s (written every {every_s:g} s; a run that ends, even by"
        " Ctrl-C or SIGTERM, writes its full record over this one)"
    )
    return ScenarioResult(name=name, description=description, status="invalid",
                          invalid_reason=reason, t0=t0, duration_s=end_s,
                          phases=fault_phases(events, end_s), events=events, series=series,
                          probes=live.probe_samples)  # fmt: skip


def scenario_result(name: str, description: str, t0: float, outcome_end_s: float,
                    live: LiveLoad) -> ScenarioResult:  # fmt: skip
    """The session as a scenario result: no KPIs; the faults seen as events and phases."""
    outcome = live.run.result()
    events = [Event(t_s=0.0, kind="load.start", message=f"{name}: {live.target.sut_url}")]
    events += live.events
    by = live.stopped_by or "Ctrl-C"
    if live.interrupted:
        events.append(Event(t_s=round(outcome_end_s, 3), kind="note", message=f"stopped by {by}"))
    end_s = round(max([outcome_end_s, *(e.t_s for e in events)]), 3)
    reasons = outcome.invalid_reasons()  # generator behind, too few slots, set-up failed
    status: Status = "invalid" if reasons else "pass"
    reason = "; ".join(reasons) or None
    if live.interrupted and by == WEB_STOP:  # the schedule was cut by the user, not the SUT
        status = "invalid"
        reason = (
            f"stopped by the user ({WEB_STOP}) at {outcome_end_s:.1f} s: the rest of the"
            " schedule was not sent; not a verdict on the service"
        )
    return ScenarioResult(
        name=name,
        description=description,
        status=status,
        invalid_reason=reason,
        t0=t0,
        duration_s=end_s,
        phases=fault_phases(events, end_s),
        events=events,
        series=outcome.series,
        probes=live.probe_samples,
        generator=outcome.generator,
        websocket=outcome.websocket,
    )


@click.command()
@click.option("--url", default=None, help="target base URL (default: the running `chaosgate up`)")
@click.option("--toxiproxy", default=None, help="Toxiproxy API URL (default: the `up` stack's)")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=20.0,
    show_default=True,
    help="requests/s",
)
@click.option(
    "--users", default="api,dashboard", show_default=True, help="shipped users, comma-separated"
)
@click.option("--duration", default=None, help="e.g. 60s, 5m (default: until Ctrl-C)")
@click.option(
    "--arrival", type=click.Choice(["poisson", "constant"]), default="poisson", show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="open slots (default: two seconds of rate)",
)
@click.option(
    "--ws-clients",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="with the websocket user",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="load worker processes (more than 1: a Locust master and N workers)",
)
@click.option(
    "--checkpoint",
    default=f"{CHECKPOINT_S:g}s",
    show_default=True,
    help="write the record so far to result.json this often (a killed soak leaves it); 0: never",
)
@click.option("--name", default="live-load", show_default=True, help="scenario name in the result")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="reports directory",
)
@click.option(
    "--refresh",
    type=click.FloatRange(min=0.1),
    default=0.5,
    show_default=True,
    help="view refresh, s",
)
@click.option(
    "--web", is_flag=True, help="also serve Locust's web UI on 127.0.0.1 (see --web-port)"
)
@click.option("--web-port", type=click.IntRange(1, 65535), default=8089, show_default=True)
@history_options
@settings_options
@click.pass_context
def load(ctx: click.Context, url: str | None, toxiproxy: str | None, rate: float, users: str, duration: str | None,
         arrival: str, seed: int, concurrency: int | None, ws_clients: int, workers: int, checkpoint: str, name: str, out: Path | None,
         refresh: float, web: bool, web_port: int, settings: HarnessSettings) -> None:  # fmt: skip
    """Open-model load on a running stack (or --url) with a live view; Ctrl-C stops it.

    Writes <out>/<run-id>/result.json (+ report.html, junit.xml, summary.md) with the faults
    seen while it ran as events. Exit 0, or 3 when the generator could not hold the rate."""
    from rich.console import Console

    from scenarios.live_web import load_run
    from scenarios.orchestrator import RunSession

    try:
        plan = build_plan(users, rate, duration, arrival, seed, concurrency, ws_clients, workers)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--duration") from None
    try:
        every_s = parse_duration(checkpoint)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--checkpoint") from None
    target = resolve_target(url, toxiproxy, settings)
    # the one run object: its id, folder, command and record, as `run` has (no stack of its own)
    session = RunSession.for_command(settings, out, report=lambda line: None, progress=False)
    started, run_dir = session.started, session.out_dir
    run = load_run(
        plan, target.sut_url, started, run_dir, web_port if web else None, settings.timeouts
    )
    live = LiveLoad(run, target, settings)
    session.on_target(target.identity(), seed=seed, toxiproxy=live.toxiproxy_version())
    live.planned_s = plan.total_s if duration is not None else None
    console = Console(stderr=True)
    if web:
        console.print(f"Locust web UI: http://127.0.0.1:{web_port}/ (statistics of this run)")
        live.stop_requested = lambda: WEB_STOP if stopped_in_web_ui(web_port) else None
    description = f"chaosgate load on {target.sut_url}"
    saved = Checkpoint(run_dir / "result.json", every_s, lambda: session.result(
        partial_result(name, description, started, live, every_s)))  # fmt: skip
    with terminate_as_interrupt() as stops:  # SIGTERM leaves the same record as Ctrl-C
        with display(sys.stdout.isatty()) as show:
            live.loop(show, refresh, tick=saved.maybe)
        with stops.hold():
            if stops.received:
                live.stopped_by = stops.stopped_by
            _record(ctx, session, name, target.sut_url, live)


def _record(ctx: click.Context, session: RunSession, name: str, url: str, live: LiveLoad) -> None:
    """Write the session's result and reports, print where, exit with its code."""
    from rich.console import Console

    from reports.renderers import write_reports

    console = Console(stderr=True)
    run_dir, started = session.out_dir, session.started
    scenario = scenario_result(
        name, f"chaosgate load on {url}", started, time.time() - started, live
    )
    session.add(scenario)
    result = session.result()  # exit 0, or 3 when INVALID (overall, as for `run`)
    write_reports(result, run_dir)
    remember(result)  # the results store (reports.history)
    faults = sum(1 for e in scenario.events if e.kind == "fault.inject")
    if scenario.invalid_reason:  # else only result.json would say why (exit 3)
        console.print(f"[yellow]INVALID: {scenario.invalid_reason}[/]")
    console.print(
        f"result: {run_dir / 'result.json'} ({faults} fault(s) seen, status {scenario.status})"
    )
    ctx.exit(result.exit_code)
