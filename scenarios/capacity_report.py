"""A capacity search's record beside its `result.json`: `capacity.json` (knee, saturation,
curve), `capacity.svg` (rate vs p50/p95/p99 and error/degraded share) and `capacity.html`."""

from __future__ import annotations

import dataclasses
import html
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from reports.kpi_eval import verdict
from reports.kpi_functions import Inputs
from reports.kpi_parse import parse_kpi
from reports.model import KpiVerdict
from scenarios.capacity import SearchOutcome
from scenarios.capacity_step import Point, StepPlan

SATURATION_SHARE = 0.05  # errors + degraded (shed) answers above this share: saturated


def saturation(points: list[Point], share: float = SATURATION_SHARE) -> Point | None:
    """The lowest rate whose errors and shed answers exceed `share` (judged steps only: an
    INVALID step's errors may be the harness's own, e.g. tickets queued at the stop)."""
    judged = sorted((p for p in points if p.status in ("pass", "fail")), key=lambda p: p.rate)
    return next((p for p in judged if p.refused_share > share), None)


def judge_checks(outcome: SearchOutcome, plan: StepPlan) -> list[KpiVerdict]:
    """The scenario's `capacity(...) >= N rps` KPIs judged on a concluded search's knee (the
    registry's `capacity` entry measures it; no knee: even the lowest rate broke)."""
    if not outcome.concluded:
        return []
    found = []
    for text in plan.checks:
        kpi = parse_kpi(text)
        values = [] if outcome.knee is None else [outcome.knee]
        inputs = Inputs(kpi.argument, kpi.comparator, kpi.threshold, values=values)
        found.append(verdict(kpi, kpi.entry.measure(inputs), plan.window, ""))
    return found


def summary(outcome: SearchOutcome, points: list[Point], plan: StepPlan, command: str,
            checks: list[KpiVerdict] | None = None) -> dict[str, Any]:  # fmt: skip
    saturated = saturation(points)
    first = outcome.first_fail
    return {
        "scenario": plan.base.name,
        "command": command,
        "kpis": list(plan.kpis),
        "window": plan.window,
        "concluded": outcome.concluded,
        "knee_rps": outcome.knee,
        "max_held": outcome.max_held,
        "below_min": outcome.below_min,
        "first_fail_rps": first.rate if first else None,
        "broke": first.broke if first else None,
        "invalid_rps": outcome.invalid.rate if outcome.invalid else None,
        "invalid_reason": outcome.invalid.reason if outcome.invalid else None,
        "saturation_share": SATURATION_SHARE,
        "saturation_rps": saturated.rate if saturated else None,
        "steps": [dataclasses.asdict(p) for p in points],
        "capacity_kpis": [
            {
                "expression": v.expression,
                "status": v.status,
                "measured": v.measured,
                "message": v.message,
            }
            for v in checks or []
        ],
    }


def knee_text(record: dict[str, Any]) -> str:
    knee, fail = record["knee_rps"], record["first_fail_rps"]
    where = f" (judged on {record['window']})"
    if not record["concluded"]:
        text = f"no conclusion: the step at {record['invalid_rps']:g} rps was INVALID twice ({record['invalid_reason']})"  # fmt: skip
        if knee is not None:
            text += f"; held up to {knee:g} rps"
        return text
    if record["below_min"]:
        return f"capacity below {fail:g} rps: it already broke {record['broke']}{where}"
    if record["max_held"]:
        return f"capacity at least {knee:g} rps (the highest rate tried held){where}"
    return f"knee: {knee:g} rps holds; {fail:g} rps broke {record['broke']}{where}"


def saturation_text(record: dict[str, Any]) -> str:
    share = f"{record['saturation_share']:.0%}"
    if record["saturation_rps"] is None:
        return f"saturation (errors + shed > {share}): not reached at the rates run"
    return f"saturation (errors + shed > {share}): {record['saturation_rps']:g} rps"


def steps_table(points: list[Point]) -> Table:
    table = Table(title="capacity steps (judged requests, judged window)")
    for column in ("rate", "done/s", "verdict", "p50 ms", "p95 ms", "p99 ms", "errors",
                   "degraded", "gen CPU %", "SUT CPU %"):  # fmt: skip
        table.add_column(column, justify="right")

    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}"

    for p in points:
        colour = {"pass": "green", "fail": "red"}.get(p.status, "yellow")
        table.add_row(f"{p.rate:g}", "—" if p.throughput_rps is None else f"{p.throughput_rps:.1f}",
                      f"[{colour}]{p.status}[/]", ms(p.p50_ms), ms(p.p95_ms), ms(p.p99_ms),
                      f"{p.error_rate:.1%}", f"{p.degraded_rate:.1%}",
                      "—" if p.generator_cpu is None else f"{p.generator_cpu:.0f}",
                      "—" if p.sut_cpu is None else f"{p.sut_cpu:.0f}")  # fmt: skip
    return table


def curve_svg(points: list[Point], record: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    # judged runs joined by lines; INVALID runs only marked (x): no verdict, not the curve
    ordered = sorted((p for p in points if p.status in ("pass", "fail")), key=lambda p: p.rate)
    invalid = [p for p in points if p.status not in ("pass", "fail")]
    figure, (latency, share) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)

    def plot(axes: Any, values: Callable[[Point], float | None], label: str, colour: str) -> None:
        def y(p: Point) -> float:
            value = values(p)
            return float("nan") if value is None else value

        axes.plot(
            [p.rate for p in ordered], [y(p) for p in ordered], "o-", color=colour, label=label
        )
        if invalid:
            axes.plot([p.rate for p in invalid], [y(p) for p in invalid], "x", color=colour,
                      alpha=0.5)  # fmt: skip

    plot(latency, lambda p: p.p50_ms, "p50", "tab:blue")
    plot(latency, lambda p: p.p95_ms, "p95", "tab:orange")
    plot(latency, lambda p: p.p99_ms, "p99", "tab:green")
    latency.set_ylabel("latency (ms); x: INVALID run")
    latency.set_yscale("log")
    plot(share, lambda p: 100 * p.error_rate, "errors", "red")
    plot(share, lambda p: 100 * p.degraded_rate, "degraded", "orange")
    share.axhline(100 * record["saturation_share"], color="grey", linestyle=":", label="saturation")
    share.set_ylabel("% of judged requests")
    share.set_xlabel("arrival rate (rps)")
    for axes in (latency, share):
        if record["knee_rps"] is not None:
            axes.axvline(record["knee_rps"], color="green", linestyle="--", label="knee")
        axes.legend(loc="upper left", fontsize="small")
    latency.set_title(f"capacity of {record['scenario']} ({record['window']})")
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def write(run_dir: Path, record: dict[str, Any], points: list[Point]) -> list[Path]:
    """capacity.json, capacity.svg and capacity.html in `run_dir`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "capacity.json").write_text(json.dumps(record, indent=2) + "\n")
    svg = curve_svg(points, record) if points else ""
    (run_dir / "capacity.svg").write_text(svg)
    rows = "".join(
        f"<tr><td>{p.rate:g}</td><td>{p.throughput_rps or 0:.1f}</td><td>{html.escape(p.status)}</td><td>{p.p50_ms or 0:.1f}</td>"
        f"<td>{p.p95_ms or 0:.1f}</td><td>{p.p99_ms or 0:.1f}</td><td>{p.error_rate:.1%}</td>"
        f"<td>{p.degraded_rate:.1%}</td><td>{p.generator_cpu or 0:.0f}</td>"
        f"<td>{'—' if p.sut_cpu is None else f'{p.sut_cpu:.0f}'}</td></tr>"
        for p in points
    )
    page = (
        f"<!doctype html><meta charset=utf-8><title>capacity {html.escape(record['scenario'])}</title>"
        f"<h1>Capacity of {html.escape(record['scenario'])}</h1>"
        f"<p>{html.escape(knee_text(record))}</p><p>{html.escape(saturation_text(record))}</p>"
        f"<p>KPIs: {html.escape('; '.join(record['kpis']))}</p>"
        + "".join(
            f"<p>{html.escape(c['status'].upper())}: {html.escape(c['expression'])}: {html.escape(c['message'])}</p>"
            for c in record.get("capacity_kpis", [])
        )
        + f"{svg}"
        "<table border=1><tr><th>rate</th><th>done/s</th><th>verdict</th><th>p50 ms</th><th>p95 ms</th>"
        f"<th>p99 ms</th><th>errors</th><th>degraded</th><th>gen CPU %</th><th>SUT CPU %</th></tr>{rows}</table>"
        "<p>Each step's own report: report.html (the steps are its scenarios).</p>"
    )
    (run_dir / "capacity.html").write_text(page)
    return [run_dir / n for n in ("capacity.json", "capacity.svg", "capacity.html")]
