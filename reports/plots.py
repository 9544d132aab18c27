"""The scenario timeline for the HTML report: latency per endpoint, throughput, error rate and
the SUT's readiness/breaker states over time, with faults, recoveries and KPI thresholds."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram
from matplotlib import pyplot as plt
from matplotlib.axes import Axes

from reports.model import KpiVerdict, ScenarioResult, SliceBucket
from reports.plot_style import LEGEND_RIGHT, PLAIN, RC, fixed_layout, to_svg
from reports.stats import latency_split

PERCENTILE_STYLE = {50.0: ("p50", "#1f5fa8"), 95.0: ("p95", "#e08a1e"), 99.0: ("p99", "#b8322e")}
FAILED_STYLE = {50.0: ("failed p50", (0, (1, 1.5))), 99.0: ("failed p99", (0, (4, 1.5)))}
FAILED_COLOUR = "#7b3fa0"
STATE_COLOUR = {"ok": "#2e9d4f", "degraded": "#e0a526", "bad": "#d13b3b", "unknown": "#9aa0a6"}
MARKER = {"fault.inject": "#d13b3b", "fault.remove": "#2e9d4f"}


@dataclass(frozen=True)
class Second:
    """One second of one request name: counts, and percentiles (ms) of successes and failures
    apart (fast 500s mixed in would make an outage's latency look healthy)."""

    count: int
    errors: int
    ok: dict[float, float]  # every request when `mixed` (an older result)
    failed: dict[float, float]
    mixed: bool
    width: int = 1  # seconds: a soak's coarse bucket covers several


def _points(histogram: HdrHistogram, percentiles: list[float]) -> dict[float, float]:
    if not histogram.get_total_count():
        return {}
    # one pass over the counts for all of them (hdrh's per-percentile call scans each time)
    values = histogram.get_percentile_to_value_dict(percentiles)
    return {p: v / 1000 for p, v in values.items()}


def _per_second(scenario: ScenarioResult) -> dict[str, dict[int, Second]]:
    """name -> second -> `Second`: each second's slices merged (a plot per slice would be noise
    at a few requests per slice). A soak's coarse bucket is one point at its start, its count
    per second (`width_s`), so a long run's plot holds 360 points an hour, not 3,600."""
    grouped: dict[str, dict[int, list[SliceBucket]]] = defaultdict(lambda: defaultdict(list))
    for bucket in scenario.series:
        grouped[bucket.name][math.floor(bucket.start_s)].append(bucket)
    table: dict[str, dict[int, Second]] = defaultdict(dict)
    for name, seconds in grouped.items():
        for second, buckets in seconds.items():
            split = latency_split(buckets)
            count, errors = sum(b.count for b in buckets), sum(b.errors for b in buckets)
            width = max(1, round(max(b.width_s for b in buckets)))
            table[name][second] = Second(count, errors, _points(split.ok, list(PERCENTILE_STYLE)),
                                         _points(split.failed, list(FAILED_STYLE)), split.mixed,
                                         width)  # fmt: skip
    return dict(sorted(table.items()))


def _span(by_second: dict[int, Second]) -> list[int]:
    """Every second from the first to the last, but a coarse point covers its whole width."""
    out: list[int] = []
    second = min(by_second, default=0)
    end = max(by_second, default=-1)
    while second <= end:
        out.append(second)
        second += by_second[second].width if second in by_second else 1
    return out


def _decorate(axes: Axes, scenario: ScenarioResult, *, label: bool) -> None:
    """Shade fault windows and draw injection/removal/recovery markers on one panel."""
    for phase in scenario.phases:
        if phase.kind == "fault":
            axes.axvspan(phase.start_s, phase.end_s, color="#d13b3b", alpha=0.08, lw=0)
            if label:
                axes.text((phase.start_s + phase.end_s) / 2, 1.02, phase.fault or phase.name,
                          transform=axes.get_xaxis_transform(), ha="center", va="bottom",
                          color="#a12c2c", fontsize=8, fontweight="bold")  # fmt: skip
        elif phase.kind == "recovery":
            axes.axvspan(phase.start_s, phase.end_s, color="#2e9d4f", alpha=0.05, lw=0)
    for event in scenario.events:
        if event.kind in MARKER:
            axes.axvline(event.t_s, color=MARKER[event.kind], lw=1, ls="--", alpha=0.8)
    if label:  # room above the first panel for the fault names
        axes.set_title(
            axes.get_title(loc="left"), loc="left", fontsize=9, fontweight="bold", pad=16
        )
    for index, measure in enumerate(scenario.recoveries):
        if measure.recovered_at_s is not None:
            axes.axvline(measure.recovered_at_s, color="#1f5fa8", lw=1.2, ls="-.", alpha=0.9)
            if label:  # staggered, and left of the line near the right edge, to stay readable
                right = measure.recovered_at_s > 0.7 * scenario.duration_s
                axes.text(measure.recovered_at_s, 0.98 - 0.13 * index,
                          f" {measure.fault} recovered in {measure.recovery_s:.1f}s ",
                          transform=axes.get_xaxis_transform(), color="#1f5fa8", fontsize=7,
                          va="top", ha="right" if right else "left")  # fmt: skip


def _states(scenario: ScenarioResult) -> dict[str, list[tuple[float, str]]]:
    """Readiness and breaker probes as (time, ok|degraded|bad) series, changes only."""
    names = {"closed": "ok", "half-open": "degraded", "half_open": "degraded", "open": "bad"}
    series: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for probe in sorted(scenario.probes, key=lambda p: p.t_s):
        if probe.name == "ready" or probe.name.startswith("breaker."):
            value = probe.value
            if probe.name == "ready":
                state = "ok" if value in (1, 1.0, "ready", "1") else "bad"
            elif isinstance(value, str):
                state = names.get(value.lower(), "unknown")
            else:  # Prometheus encoding: 0 closed, 1 half-open, 2 open
                state = {0: "ok", 1: "degraded", 2: "bad"}.get(int(value), "unknown")
            if not series[probe.name] or series[probe.name][-1][1] != state:
                series[probe.name].append((probe.t_s, state))
    return dict(series)


def _state_strip(
    axes: Axes, scenario: ScenarioResult, states: dict[str, list[tuple[float, str]]]
) -> None:
    for row, (_name, changes) in enumerate(states.items()):
        ends = [t for t, _ in changes[1:]] + [scenario.duration_s]
        for (start, state), end in zip(changes, ends, strict=True):
            axes.broken_barh([(start, end - start)], (row - 0.35, 0.7), color=STATE_COLOUR[state])
    axes.set_yticks(range(len(states)), list(states))
    axes.set_ylim(-0.6, len(states) - 0.4)
    axes.grid(False)
    axes.set_title("readiness / breakers  (green ok · amber half-open · red open or not ready)",
                   loc="left", fontsize=8, color="#555")  # fmt: skip


def _judged_spans(scenario: ScenarioResult, kpi: KpiVerdict) -> list[tuple[float, float]]:
    """The spans the verdict records (results older than that field: its window's phase)."""
    if kpi.spans:
        return kpi.spans
    if kpi.window == "whole":
        return [(0.0, scenario.duration_s)]
    phase = next((p for p in scenario.phases if kpi.window in (p.name, p.kind)), None)
    return [(phase.start_s, phase.end_s)] if phase else [(0.0, scenario.duration_s)]


def _kpi_lines(axes: Axes, scenario: ScenarioResult, endpoint: str | None) -> None:
    """Each recorded KPI threshold as a line over its window: latency KPIs on their endpoint's
    panel (endpoint given), error-rate KPIs on the error panel. Colour is the recorded verdict.
    What was judged comes from the verdict's own fields (function, argument, spans)."""
    drawn = 0
    for kpi in scenario.kpis:
        percentile = kpi.function.startswith("p") and kpi.function[1:].isdigit()
        if endpoint is not None and not (
            percentile and kpi.argument == endpoint and kpi.unit == "ms"
        ):
            continue
        if endpoint is None and not (kpi.function == "error_rate" and kpi.unit == "%"):
            continue
        spans = _judged_spans(scenario, kpi)
        colour = "#2e9d4f" if kpi.passed else "#b8322e"
        for start, end in spans:
            axes.hlines(kpi.threshold, start, end, colors=colour, linestyles=(0, (4, 2)), lw=1.4)
        start = spans[0][0]
        label = kpi.function if endpoint else "error rate"
        if endpoint is None and kpi.argument not in ("", "*"):
            label += f" of {kpi.argument}"
        mark = {"pass": "ok", "insufficient": "TOO FEW SAMPLES"}.get(kpi.status, "FAILED")
        axes.annotate(f"{label} {kpi.comparator} {kpi.threshold:g}{kpi.unit} {mark}", (start, kpi.threshold),
                      xytext=(2, 2 + 10 * drawn), textcoords="offset points", color=colour, fontsize=7,
                      fontweight="bold")  # fmt: skip
        drawn += 1  # stagger labels of thresholds that sit close together


def _latency_panel(
    ax: Axes, scenario: ScenarioResult, name: str, by_second: dict[int, Second]
) -> None:
    seconds = _span(by_second)  # a second without completions is a gap, not a line
    mixed = any(s.mixed for s in by_second.values())
    for p, (label, colour) in PERCENTILE_STYLE.items():
        values = [by_second[s].ok.get(p, math.nan) if s in by_second else math.nan for s in seconds]
        ax.plot(seconds, values, label=label if mixed else f"ok {label}", lw=1.3, color=colour)
    if any(s.failed for s in by_second.values()):
        for p, (label, dashes) in FAILED_STYLE.items():
            values = [by_second[s].failed.get(p, math.nan) if s in by_second else math.nan
                      for s in seconds]  # fmt: skip
            ax.plot(seconds, values, label=label, lw=1.3, color=FAILED_COLOUR, ls=dashes)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PLAIN)
    ax.set_ylabel("latency ms")
    # an older result kept no error latencies apart: say its lines hold every request
    ax.set_title(f"{name}{'  (all requests, errors included)' if mixed else ''}", loc="left",
                 fontsize=9, fontweight="bold")  # fmt: skip
    ax.legend(**LEGEND_RIGHT)
    _kpi_lines(ax, scenario, name)


def _load_panels(
    throughput: Axes, errors: Axes, scenario: ScenarioResult, data: dict[str, dict[int, Second]]
) -> None:
    for name, by_second in data.items():
        xs = _span(by_second)
        counts = [by_second[s].count / by_second[s].width if s in by_second else 0 for s in xs]
        rates = [
            100 * by_second[s].errors / by_second[s].count
            if s in by_second and by_second[s].count
            else math.nan
            for s in xs
        ]
        throughput.plot(xs, counts, lw=1.2, label=name)
        errors.plot(xs, rates, lw=1.2, label=name)
    throughput.set_ylabel("req/s")
    throughput.set_ylim(bottom=0)
    throughput.set_title("throughput", loc="left", fontsize=9, fontweight="bold")
    throughput.legend(**LEGEND_RIGHT)
    errors.set_ylabel("errors %")
    errors.set_ylim(bottom=0)
    errors.set_title("error rate", loc="left", fontsize=9, fontweight="bold")
    _kpi_lines(errors, scenario, None)


def timeline_svg(scenario: ScenarioResult) -> str | None:
    """Latency per endpoint, throughput, error rate and SUT state over the scenario's time."""
    data = _per_second(scenario)
    states = _states(scenario)
    if not data and not states:
        return None
    heights = (
        [2.2] * len(data)
        + ([1.5, 1.3] if data else [])
        + ([0.35 + 0.3 * len(states)] if states else [])
    )
    with plt.style.context(RC):
        figure, axes_list = plt.subplots(len(heights), 1, sharex=True, figsize=(10, sum(heights) + 0.6),
                                         height_ratios=heights, squeeze=False)  # fmt: skip
        axes = list(axes_list[:, 0])
        for row, (name, by_second) in enumerate(data.items()):
            _latency_panel(axes[row], scenario, name, by_second)
        if data:
            _load_panels(axes[len(data)], axes[len(data) + 1], scenario, data)
        if states:
            _state_strip(axes[-1], scenario, states)
        for index, ax in enumerate(axes):
            _decorate(ax, scenario, label=index == 0)
        axes[-1].set_xlabel(
            "seconds since scenario start   (red dashed: fault injected · green dashed: removed · blue: recovered)"
        )
        axes[-1].set_xlim(0, scenario.duration_s)
        fixed_layout(figure, bottom_in=0.6)
        return to_svg(figure, f"timeline-{scenario.name}")
