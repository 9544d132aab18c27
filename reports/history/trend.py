"""The history page: one trend plot per (scenario, KPI), the runs in order along x labelled with
their SUT versions, pass/fail/insufficient marked, the threshold-free values as stored."""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

from matplotlib import pyplot as plt

from chaosgate.errors import InputError
from reports.history.store import KpiPoint
from reports.plot_style import PLAIN, RC, to_svg

_STYLE = {"pass": ("#2e9d4f", "o", "pass"), "fail": ("#d13b3b", "X", "FAIL"),
          "insufficient": ("#e0a526", "s", "insufficient")}  # fmt: skip


def trend_svg(series: list[KpiPoint], salt: str) -> str:
    with plt.style.context(RC):
        figure, axes = plt.subplots(figsize=(8, 2.6))
        xs = list(range(len(series)))
        measured = [
            (x, p.measured) for x, p in zip(xs, series, strict=True) if p.measured is not None
        ]
        axes.plot([x for x, _ in measured], [y for _, y in measured], color="#9aa0a6", linewidth=1)
        for status, (colour, marker, name) in _STYLE.items():
            chosen = [(x, p.measured) for x, p in zip(xs, series, strict=True)
                      if p.status == status and p.measured is not None]  # fmt: skip
            if chosen:
                axes.scatter([x for x, _ in chosen], [y for _, y in chosen], color=colour,
                             marker=marker, label=name, zorder=3)  # fmt: skip
        if series[-1].threshold is not None:
            axes.axhline(series[-1].threshold, color="#9aa0a6", linestyle="--", linewidth=0.8,
                         label=f"threshold {series[-1].threshold:g} {series[-1].unit}")  # fmt: skip
        axes.set_xticks(xs)
        axes.set_xticklabels(
            [p.sut_version or "?" for p in series], rotation=45, ha="right", fontsize=7
        )
        axes.set_xlabel("SUT version (runs oldest → newest)")
        axes.set_ylabel(series[0].unit)
        axes.yaxis.set_major_formatter(PLAIN)
        axes.legend(fontsize=7, frameon=False)
        figure.tight_layout()
        return to_svg(figure, salt)


def write_trend_page(points: list[KpiPoint], out: Path, where: str) -> None:
    grouped: dict[tuple[str, str], list[KpiPoint]] = defaultdict(list)
    for point in points:
        grouped[(point.scenario, point.expression)].append(point)
    parts = [f"<!doctype html><meta charset=utf-8><title>chaosgate history</title>"
             f"<h1>chaosgate history</h1><p>store: {html.escape(where)}; {len(grouped)} KPI(s)</p>"]  # fmt: skip
    for index, ((scenario, expression), series) in enumerate(grouped.items()):
        parts.append(f"<h2>{html.escape(scenario)}: <code>{html.escape(expression)}</code></h2>")
        parts.append(trend_svg(series, f"trend{index}"))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(parts) + "\n", encoding="utf-8")
    except OSError as error:
        raise InputError(f"{out}: cannot write: {error.strerror or error}") from None
