"""A `Comparison` as Markdown (CI summary / PR comment) or as an HTML page in the report's style."""

from __future__ import annotations

from markupsafe import Markup, escape

from reports import view
from reports.compare import Change, Comparison
from reports.html import render_page


def _relative(change: Change) -> str:
    if change.relative is None:
        return "n/a"
    # Positive = worse, so a reader sees "+25% worse" rather than a sign to decode.
    word = "worse" if change.relative > 0 else "better"
    return f"{abs(change.relative) * 100:.1f}% {word}" if change.relative else "no change"


def _delta(change: Change) -> str:
    delta = change.delta
    if delta is None:
        return "n/a"
    text = ("+" if delta > 0 else "") + view.number(
        delta, "" if change.unit == "%" else change.unit
    )
    return f"{text} pp" if change.unit == "%" else text  # percentage points, not relative


def _cells(change: Change) -> list[str]:
    return [
        change.scenario,
        change.subject,
        view.number(change.base, change.unit),
        view.number(change.new, change.unit),
        _delta(change),
        _relative(change),
        "REGRESSION" + (f" ({change.note})" if change.note else "")
        if change.regressed
        else change.note,
    ]


_HEAD = ["Scenario", "Measure", "Base", "New", "Change", "Relative", "Verdict"]


def headline(comparison: Comparison) -> str:
    tolerance = f"{comparison.tolerance * 100:g}%"
    if comparison.invalid:
        which = " and ".join(comparison.invalid_runs)
        return f"INVALID: the {which} run is invalid, so no comparison verdict can be drawn"
    if comparison.changed and not comparison.allow_changed:
        which = ", ".join(comparison.changed)
        return f"INVALID: scenario definitions differ ({which}); compare with --allow-changed"
    count = len(comparison.regressions)
    if count:
        return f"REGRESSED: {count} measure(s) worse than the baseline beyond {tolerance}"
    return f"NO REGRESSION: every measure within {tolerance} of the baseline"


def _ordered(changes: list[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: not c.regressed)


def _status(comparison: Comparison) -> str:
    if comparison.invalid or (comparison.changed and not comparison.allow_changed):
        return "invalid"
    return "fail" if comparison.regressed else "pass"


def render_comparison_markdown(comparison: Comparison) -> str:
    icon = {"invalid": "⚠️", "fail": "❌", "pass": "✅"}[_status(comparison)]
    lines = [
        f"## {icon} chaosgate compare: {headline(comparison)}",
        "",
        f"Base `{comparison.base_run}` → new `{comparison.new_run}`",
        "",
    ]
    lines.extend(f"> ⚠️ {note}" for note in comparison.notes)
    for title, changes in (
        ("KPIs", comparison.kpis),
        ("Endpoint latency (whole run)", comparison.percentiles),
    ):
        if not changes:
            continue
        lines += [
            "",
            f"### {title}",
            "",
            "| " + " | ".join(_HEAD) + " |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for change in _ordered(changes):
            cells = [c.replace("|", "\\|") for c in _cells(change)]
            cells[1] = f"`{cells[1]}`"
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_comparison_html(comparison: Comparison) -> str:
    status = _status(comparison)
    banner = Markup(
        '<header class="banner {}"><span class="verdict">{}</span><span class="headline">{}</span>'
        '<div class="sub">base {} → new {}</div></header><main>'
    )
    word = {"invalid": "INVALID", "fail": "REGRESSED", "pass": "OK"}[status]
    summary = headline(comparison).split(": ", 1)[1]
    parts = [banner.format(status, word, summary, comparison.base_run, comparison.new_run)]
    parts.extend(Markup('<p class="card">⚠️ {}</p>').format(note) for note in comparison.notes)
    for title, changes in (
        ("KPIs", comparison.kpis),
        ("Endpoint latency (whole run)", comparison.percentiles),
    ):
        head = Markup("").join(
            Markup('<th class="num">{}</th>' if i in (2, 3, 4, 5) else "<th>{}</th>").format(h)
            for i, h in enumerate(_HEAD)
        )
        body = Markup("").join(
            Markup('<tr class="{}">{}</tr>').format(
                "fail" if change.regressed else "",
                Markup("").join(
                    Markup('<td class="{}">{}</td>').format(
                        "num" if i in (2, 3, 4, 5) else ("mono" if i == 1 else ""), escape(cell)
                    )
                    for i, cell in enumerate(_cells(change))
                ),
            )
            for change in _ordered(changes)
        )
        parts.append(
            Markup("<h2>{}</h2><table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>").format(
                title, head, body
            )
        )
    parts.append(Markup("</main>"))
    return render_page(
        f"chaosgate compare: {headline(comparison)}", Markup("\n").join(parts), status
    )
