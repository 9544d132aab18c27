"""Markdown summary sized for a CI job summary or a PR comment: verdict, failures first, one table."""

from __future__ import annotations

import os
from pathlib import Path

from reports import view
from reports.model import RunResult, WebSocketSummary

_ICON = {"pass": "✅", "fail": "❌", "invalid": "⚠️"}


def _cell(text: str) -> str:
    # A pipe ends a table cell even inside backticks on GitHub.
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: RunResult) -> str:
    run = result.run
    rows = view.kpi_rows(result)
    lines = [
        f"## {_ICON[result.status]} chaosgate {view.headline(result)}",
        "",
        f"Run `{run.run_id}` · commit `{view.short_commit(run.commit)}` · backend "
        f"`{run.backend or 'n/a'}` · seed `{view.seeds(result)}` · {view.when(run.started_at)} · "
        f"{run.ended_at - run.started_at:.0f} s · exit {result.exit_code}",
        "",
    ]
    invalid = [s for s in result.scenarios if s.status == "invalid"]
    if invalid:
        lines.append("**Invalid scenarios** (their KPIs are not verdicts):")
        lines.extend(f"- ⚠️ `{s.name}`: {s.invalid_reason or 'no reason recorded'}" for s in invalid)
        lines.append("")
    failed = [row for row in rows if row.outcome == "fail"]
    if failed:
        lines.append("**Failed KPIs**")
        lines.extend(
            f"- ❌ `{row.scenario.name}`: `{row.kpi.expression}`: {view.failure_message(row.kpi)}"
            for row in failed
        )
        lines.append("")
    for scenario in result.scenarios:
        mix_setup = scenario.generator.mix_setup if scenario.generator else []
        lines.extend(f"`{scenario.name}` {line}" for line in mix_setup)  # log-in time, unscored
        if mix_setup:
            lines.append("")
        errors = view.error_rows(scenario)
        if errors:
            lines.append(f"**Errors by request** (`{scenario.name}`)")
            lines.extend(f"- `{_cell(row.name)}`: {row.text()}" for row in errors)
            lines.append("")
    if rows:
        lines.append("| | Scenario | KPI | Window | Measured | Threshold | Margin |")
        lines.append("|---|---|---|---|---:|---:|---:|")
        for row in rows:
            kpi = row.kpi
            cells = [
                _ICON[row.outcome] + (" not judged" if row.outcome == "invalid" else ""),
                f"`{row.scenario.name}`",
                f"`{kpi.expression}`",
                kpi.window,
                view.number(kpi.measured, kpi.unit) + (f" — {row.note}" if row.note else ""),
                view.threshold(kpi),
                view.margin(kpi),
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    else:
        names = ", ".join(f"`{s.name}`" for s in result.scenarios)
        lines.append(f"_No KPI verdicts were recorded_ (scenarios: {names or 'none'}).")
    ws = [(s.name, s.websocket) for s in result.scenarios if s.websocket is not None]
    for name, summary in ws:
        assert summary is not None
        lines.append("")
        lines.append(f"WebSocket `{name}`: {_websocket_counts(summary)}")
    for scenario in result.scenarios:  # users that could not set up (refusals retried, or not)
        setup = scenario.generator.setup if scenario.generator is not None else {}
        troubled = {n: t for n, t in setup.items() if t.refused or t.failed or t.missing}
        if troubled:
            lines.append("")
            lines.append(f"Set-up `{scenario.name}`: " + "; ".join(
                f"{name} {t.users} steps, {t.refused} refused (retried), {t.failed} failed"
                + (f", sends with nothing to act on: {sum(t.missing.values())}" if t.missing else "")
                for name, t in troubled.items()))  # fmt: skip
    for scenario in result.scenarios:  # a busy host explains a slow run (scenarios.hostload)
        busiest = scenario.host.busiest if scenario.host is not None else None
        if scenario.host is not None and busiest is not None:
            lines.append("")
            lines.append(
                f"Host `{scenario.name}`: other processes took up to "
                f"{busiest.other_percent:.0f} % of a core ({busiest.window}; limit "
                f"{scenario.host.limit_percent:g} %)"
            )
    return "\n".join(lines) + "\n"


def _websocket_counts(ws: WebSocketSummary) -> str:
    ratio = ws.delivered_ratio
    delivered = "n/a (nothing attempted)" if ratio is None else f"{100 * ratio:.2f} %"
    why = ", ".join(f"{kind} {n}" for kind, n in sorted(ws.failed_errors.items()))
    return (
        f"attempted {ws.attempted}, failed {ws.failed}{f' ({why})' if why else ''}, "
        f"sent {ws.sent}, acknowledged {ws.acknowledged}, "
        f"unacknowledged {len(ws.unacknowledged)}, received {ws.received}, "
        f"delivered {delivered}, lost {len(ws.lost)}, duplicated {len(ws.duplicated)}, "
        f"unexpected {len(ws.unexpected)}, reconnects {ws.reconnects}"
    )


def append_step_summary(markdown: str) -> Path | None:
    """Append to GitHub's job summary when running there; the file it wrote, else None."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as summary:
        summary.write(markdown + "\n")
    return path
