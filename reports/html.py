"""The HTML report: one self-contained file that opens offline.

Jinja2 (autoescaping) fills `report.html`; plots are inline SVG from `reports.plots`; the CSS
is inline; there is no JavaScript, and a Content-Security-Policy forbids fetching anything,
so the report cannot phone home even if a future change tried to.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from reports import plot_hdr, plots, view
from reports.model import RunResult, ScenarioResult, SliceBucket
from reports.stats import latency_split

TEMPLATES = Path(__file__).parent
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@dataclass(frozen=True)
class EndpointRow:
    """One request name over the whole scenario, read from its merged histograms (display
    only): percentiles of the successes and of the failures apart; `mixed` when the result
    kept no error latencies apart (then p50-p99 are of every request)."""

    name: str
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    failed_p50_ms: float | None = None
    failed_p99_ms: float | None = None
    mixed: bool = False

    @property
    def error_pct(self) -> float:
        return 100 * self.errors / self.requests if self.requests else 0.0


def endpoint_rows(scenario: ScenarioResult) -> list[EndpointRow]:
    groups: dict[str, list[SliceBucket]] = defaultdict(list)
    for bucket in scenario.series:
        groups[bucket.name].append(bucket)
    rows = []
    for name, buckets in sorted(groups.items()):
        split = latency_split(buckets)
        ok = split.ok.get_percentile_to_value_dict([50.0, 95.0, 99.0])
        has_failed = bool(split.failed.get_total_count())
        failed = split.failed.get_percentile_to_value_dict([50.0, 99.0]) if has_failed else {}
        worst = max(split.ok.get_max_value(), split.failed.get_max_value())
        rows.append(EndpointRow(name, sum(b.count for b in buckets), sum(b.errors for b in buckets),
                                ok.get(50.0, 0) / 1000, ok.get(95.0, 0) / 1000, ok.get(99.0, 0) / 1000,
                                worst / 1000, failed[50.0] / 1000 if has_failed else None,
                                failed[99.0] / 1000 if has_failed else None, split.mixed))  # fmt: skip
    return rows


@dataclass(frozen=True)
class ScenarioView:
    scenario: ScenarioResult
    timeline: Markup | None
    distribution: Markup | None
    websocket_latency: Markup | None
    kpis: list[view.KpiRow]
    endpoints: list[EndpointRow]
    errors: list[view.ErrorRow]


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        number=view.number,
        threshold=view.threshold,
        margin=view.margin,
        seed=view.seed,
        when=view.when,
        seconds=_seconds,
    )
    return environment


def _seconds(value: float | None, missing: str = "n/a") -> str:
    return missing if value is None else f"{value:.1f} s"


def _svg(text: str | None) -> Markup | None:
    # Our own matplotlib output, not user text: safe to inline as markup.
    return None if text is None else Markup(text)


def _scenario_view(scenario: ScenarioResult, rows: list[view.KpiRow]) -> ScenarioView:
    return ScenarioView(
        scenario=scenario,
        timeline=_svg(plots.timeline_svg(scenario)),
        distribution=_svg(plot_hdr.distribution_svg(scenario)),
        websocket_latency=_svg(plot_hdr.websocket_latency_svg(scenario)),
        kpis=[row for row in rows if row.scenario is scenario],
        endpoints=endpoint_rows(scenario),
        errors=view.error_rows(scenario),
    )


def render_html(result: RunResult) -> str:
    rows = view.kpi_rows(result)
    context: dict[str, Any] = {
        "result": result,
        "run": result.run,
        "csp": CSP,
        "headline": view.headline(result),
        "meaning": view.VERDICT_MEANING[result.status],
        "word": view.VERDICT_WORD[result.status],
        "rows": rows,
        "counts": view.count_outcomes(rows),
        "failed": [row for row in rows if row.outcome == "fail"],
        "invalid": [s for s in result.scenarios if s.status == "invalid"],
        "scenarios": [_scenario_view(s, rows) for s in result.scenarios],
        "short_commit": view.short_commit(result.run.commit),
        "seeds": view.seeds(result),
    }
    return _environment().get_template("report.html").render(context)


def render_page(title: str, body: Markup, status: str) -> str:
    """A plain page in the report's style (used by the comparison's HTML output)."""
    return (
        _environment()
        .get_template("page.html")
        .render(title=title, body=body, status=status, csp=CSP)
    )
