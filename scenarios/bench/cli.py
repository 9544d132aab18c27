"""`chaosgate bench`: figures for the load engine itself, printed as a table and, with --json,
as one JSON object on the last line. Everything runs on 127.0.0.1 in child processes."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from scenarios.bench import measure, tools
from scenarios.bench.recovery import TRUTHS_S, recovery_accuracy

FIDELITY_DELAY_MS = 100.0
SAME_RATE_RPS = 2000.0  # the figure: CPU per request, engine vs k6, both open model


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def run_bench(duration_s: float, workdir: Path, say: Any) -> dict[str, Any]:
    figures: dict[str, Any] = {"load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    with tools.trivial_server(workdir) as (url, server_name):
        figures["server"] = server_name
        say(f"wrk against {server_name} ...")
        figures["wrk_rps"] = tools.wrk_rps(url, duration_s)
        say("plain Locust FastHttpUser, closed loop, 1 process, 20 users ...")
        before = tools.locust_closed(url, duration_s, workdir)
        say("engine: max sustained open-model rate, 1 worker process ...")
        best = measure.max_sustained_rate(url, duration_s, workdir)
        say("plain Locust again, and with 1 and 100 users (keep Locust's best run) ...")
        runs = {"20": before, "20 again": tools.locust_closed(url, duration_s, workdir)}
        for users in (1, 100):
            runs[str(users)] = tools.locust_closed(url, duration_s, workdir, users=users)
        plain = max(runs.values(), key=lambda p: p.rps)
        figures["locust_closed_rps"] = round(plain.rps, 1)
        figures["locust_closed_rps_by_users"] = {k: round(p.rps, 1) for k, p in runs.items()}
        figures["locust_cpu_us_per_request"] = round(plain.cpu_us_per_request, 1)
        figures["engine_max_rps"] = best.rps
        figures["engine_cpu_us_per_request"] = round(best.cpu_us_per_request, 1)
        figures["engine_cpu_percent_at_max_rps"] = round(best.cpu_percent, 1)
        figures["engine_search_tolerance_ms"] = measure.SEARCH_TOLERANCE_MS
        figures["engine_rates_tried"] = [
            {"rps": r, "valid": v, "reason": why[:160]} for r, v, why in best.tried
        ]
        figures["rss_mb_per_worker"] = round(best.rss_mb, 1)
        say(f"engine p50 at {SAME_RATE_RPS:g} rps ...")
        same = measure.engine_run(  # 100 users, like k6 preAllocatedVUs below
            url, SAME_RATE_RPS, duration_s, workdir / "same-rate", concurrency=100
        )
        figures["engine_p50_ms_at_same_rate"] = round(same.percentile_ms(50), 3)
        figures["engine_cpu_us_at_same_rate"] = round(same.cpu_us_per_request, 1)
        figures.update(_k6(url, best.rps, duration_s, workdir, say))
    figures["engine_vs_locust"] = _ratio(best.rps, figures["locust_closed_rps"])
    figures["engine_vs_locust_1_user"] = _ratio(
        best.rps, figures["locust_closed_rps_by_users"]["1"]
    )
    figures["engine_vs_k6"] = _ratio(best.rps, figures.get("k6_max_rps"))
    figures["engine_vs_wrk"] = _ratio(best.rps, figures["wrk_rps"])
    # CPU per request (each at its best rate) is robust to a busy machine: capacity ~ 1e6 / µs
    figures["engine_vs_locust_cpu"] = _ratio(
        figures["locust_cpu_us_per_request"], figures["engine_cpu_us_per_request"]
    )
    # at one rate (both open model, 100 VUs/users): what each takes from a core shared with the SUT
    figures["engine_vs_k6_cpu"] = _ratio(
        figures.get("k6_cpu_us_at_same_rate"), figures["engine_cpu_us_at_same_rate"]
    )
    figures["engine_vs_k6_cpu_at_max"] = _ratio(
        figures.get("k6_cpu_us_per_request"), figures["engine_cpu_us_per_request"]
    )
    if figures.get("k6_p50_ms_at_same_rate") is not None:
        delta = figures["engine_p50_ms_at_same_rate"] - figures["k6_p50_ms_at_same_rate"]
        figures["p50_above_k6_ms"] = round(delta, 3)
    say(f"fidelity: a server adding {FIDELITY_DELAY_MS:g} ms ...")
    with (
        tools.trivial_server(workdir, delay_ms=0.001) as (url_0, _),
        tools.trivial_server(workdir, delay_ms=FIDELITY_DELAY_MS) as (url_d, _),
    ):
        error, shift, true_shift = measure.fidelity_error_ms(url_0, url_d, workdir)
    figures["fidelity_error_ms"] = round(error, 3)
    figures["fidelity_p50_shift_ms"] = round(shift, 3)
    figures["fidelity_true_shift_ms"] = round(true_shift, 3)
    say("coordinated omission: a 1 s stall during 200 rps ...")
    with tools.trivial_server(workdir, prefer_nginx=False) as (url, _):
        co = measure.coordinated_omission(url, workdir / "co")
    figures["co_p99_measured_ms"] = round(co.measured_p99_ms, 1)
    figures["co_p99_true_ms"] = round(co.true_p99_ms, 1)
    figures["co_p99_closed_loop_ms"] = round(co.closed_loop_p99_ms, 1)
    figures["co_p99_error_pct"] = round(co.error_pct, 2)
    truths = " / ".join(f"{x:g}" for x in TRUTHS_S)
    say(f"recovery accuracy: outages that heal {truths} s after removal ...")
    with tools.trivial_server(workdir, prefer_nginx=False) as (url, _):
        accuracy = recovery_accuracy(url, workdir / "recovery")
    figures["recovery_truths_s"] = list(TRUTHS_S)
    figures["recovery_measured_s"] = accuracy.measured_s
    recovery_error = accuracy.error_s
    figures["recovery_error_s"] = None if recovery_error is None else round(recovery_error, 3)
    return figures


def _k6(url: str, engine_rps: float, duration_s: float, workdir: Path, say: Any) -> dict[str, Any]:
    if tools.k6_binary() is None:
        reason = "k6 not found on PATH (build it: .ci/bootstrap --bench)"
        return {**K6_NONE, "k6_error": reason}
    try:
        say("k6 constant-arrival-rate, 1 core: max rate ...")
        top = tools.k6_run(url, max(engine_rps * 3, 20_000), duration_s, workdir)
        say(f"k6 p50 at {SAME_RATE_RPS:g} rps ...")
        same = tools.k6_run(url, SAME_RATE_RPS, duration_s, workdir)
    except (RuntimeError, OSError) as error:
        return {**K6_NONE, "k6_error": str(error)}
    return {
        "k6_max_rps": round(top.rps, 1),
        "k6_cpu_us_per_request": round(top.cpu_us_per_request, 1),
        "k6_p50_ms_at_same_rate": round(same.p50_ms, 3),
        "k6_cpu_us_at_same_rate": round(same.cpu_us_per_request, 1),
        "k6_dropped_at_same_rate": same.dropped,
    }


K6_NONE: dict[str, Any] = {
    "k6_max_rps": None,
    "k6_cpu_us_per_request": None,
    "k6_p50_ms_at_same_rate": None,
    "k6_cpu_us_at_same_rate": None,
}


KEYS = [
    ("engine_max_rps", "engine: max sustained open-model rps, 1 worker"),
    ("locust_closed_rps", "plain Locust FastHttpUser closed-loop rps, 1 process"),
    ("k6_max_rps", "k6 constant-arrival-rate max rps, 1 core"),
    ("wrk_rps", "wrk rps, 1 thread"),
    ("engine_vs_locust", "ratio engine / Locust (its best run)"),
    ("engine_vs_locust_1_user", "ratio engine / Locust with 1 user"),
    ("engine_vs_k6", "ratio engine / k6"),
    ("locust_closed_rps_by_users", "plain Locust rps by users (1 process)"),
    ("engine_cpu_us_per_request", "engine CPU µs per request (at its max rate)"),
    ("locust_cpu_us_per_request", "plain Locust CPU µs per request (its best run)"),
    ("engine_vs_locust_cpu", "ratio Locust / engine CPU per request"),
    ("engine_cpu_percent_at_max_rps", "engine CPU % of a core at its max rate (schedule held)"),
    ("k6_cpu_us_per_request", "k6 CPU µs per request (at its max rate)"),
    ("engine_vs_k6_cpu_at_max", "ratio k6 / engine CPU per request (each at its max rate)"),
    ("engine_cpu_us_at_same_rate", f"engine CPU µs per request at {SAME_RATE_RPS:g} rps"),
    ("k6_cpu_us_at_same_rate", f"k6 CPU µs per request at {SAME_RATE_RPS:g} rps"),
    ("engine_vs_k6_cpu", f"ratio k6 / engine CPU per request at {SAME_RATE_RPS:g} rps"),
    ("engine_p50_ms_at_same_rate", f"engine p50 ms at {SAME_RATE_RPS:g} rps"),
    ("k6_p50_ms_at_same_rate", f"k6 p50 ms at {SAME_RATE_RPS:g} rps"),
    ("p50_above_k6_ms", "engine p50 above k6 (ms, target <= 0.5)"),
    ("fidelity_true_shift_ms", f"server-held shift for a {FIDELITY_DELAY_MS:g} ms delay"),
    ("fidelity_p50_shift_ms", "measured p50 shift"),
    ("fidelity_error_ms", "fidelity error ms (target <= 1)"),
    ("co_p99_true_ms", "1 s stall: true p99 ms (from the schedule)"),
    ("co_p99_measured_ms", "1 s stall: measured p99 ms"),
    ("co_p99_closed_loop_ms", "1 s stall: closed-loop p99 ms (2 users, from real start)"),
    ("co_p99_error_pct", "CO p99 error % (target <= 5)"),
    ("recovery_measured_s", f"recovery measured for outages healing {TRUTHS_S} s after removal"),
    ("recovery_error_s", "recovery error s, max |measured - truth| (target <= 0.25)"),
    ("rss_mb_per_worker", "RSS MB per worker"),
    ("load_avg_1m", "machine load average at start"),
]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on the last line.")
@click.option("--duration-s", default=3.0, show_default=True, type=click.FloatRange(1, 60))
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the raw records and logs in this directory.")  # fmt: skip
def bench(as_json: bool, duration_s: float, keep: Path | None) -> None:
    """Measure the load engine: throughput vs Locust/k6/wrk, fidelity, coordinated omission,
    recovery accuracy, memory."""
    console = Console(stderr=True)
    workdir = Path(tempfile.mkdtemp(prefix="chaosgate-bench-"))
    try:
        figures = run_bench(
            duration_s, workdir, lambda text: console.print(f"[dim]bench: {text}[/]")
        )
        if keep is not None:
            shutil.copytree(workdir, keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table = Table(title="chaosgate bench")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, label in KEYS:
        table.add_row(label, "-" if figures.get(key) is None else str(figures[key]))
    Console().print(table)
    if figures.get("k6_error"):
        Console().print(f"k6: {figures['k6_error']}")
    if as_json:
        click.echo(json.dumps(figures, separators=(",", ":")))
