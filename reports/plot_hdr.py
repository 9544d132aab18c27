"""HDR percentile-distribution figures (log "percentile" x axis, as HdrHistogram's plotter
draws them): per endpoint, and for WebSocket delivery."""

from __future__ import annotations

from collections import defaultdict

from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, LogFormatter, NullLocator

from reports import hdr
from reports.model import ScenarioResult
from reports.plot_style import COLOURS, LEGEND_RIGHT, PLAIN, RC, fixed_layout, to_svg

# Percentiles evenly spaced on the log "1/(1-p)" axis, from 0% to 99.999%.
CURVE_PERCENTILES = [100 * (1 - 10 ** (-k / 20)) for k in range(101)]


def _tail_x(percentile: float) -> float:
    return 1.0 / (1.0 - percentile / 100.0)


def distribution_svg(scenario: ScenarioResult) -> str | None:
    """HDR percentile distribution per endpoint: the whole run solid, the baseline dotted."""
    baseline = next((p for p in scenario.phases if p.kind == "baseline"), None)
    groups: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for bucket in scenario.series:
        groups[bucket.name][0].append(bucket.histogram)
        if baseline and baseline.start_s <= bucket.mid_s < baseline.end_s:
            groups[bucket.name][1].append(bucket.histogram)
    if not groups:
        return None
    with plt.style.context(RC):
        figure, ax = plt.subplots(figsize=(10, 3.6))
        colours = COLOURS
        for index, (name, (whole, base)) in enumerate(sorted(groups.items())):
            colour = colours[index % len(colours)]
            for encoded, style, suffix in ((whole, "-", "whole run"), (base, ":", "baseline")):
                curve = _curve(hdr.merge(encoded)) if encoded else None
                if curve:
                    ax.plot(*curve, ls=style, color=colour, lw=1.4, label=f"{name} ({suffix})")
        _percentile_axis(ax)
        ax.set_ylabel("latency ms (log)")
        ax.set_title(
            "latency by percentile (HDR histogram)", loc="left", fontsize=9, fontweight="bold"
        )
        ax.legend(**LEGEND_RIGHT)
        fixed_layout(figure, right_in=3.1)  # "GET /api/dashboard/performance (whole run)"
        return to_svg(figure, f"hdr-{scenario.name}")


def websocket_latency_svg(scenario: ScenarioResult) -> str | None:
    if scenario.websocket is None or not scenario.websocket.latency_histogram:
        return None
    curve = _curve(hdr.decode(scenario.websocket.latency_histogram))
    if curve is None:
        return None
    with plt.style.context(RC):
        figure, ax = plt.subplots(figsize=(10, 2.6))
        ax.plot(*curve, lw=1.4, label="send → receive")
        _percentile_axis(ax)
        ax.set_ylabel("latency ms (log)")
        ax.set_title("WebSocket delivery latency", loc="left", fontsize=9, fontweight="bold")
        fixed_layout(figure, right_in=0.3)  # no legend
        return to_svg(figure, f"ws-{scenario.name}")


def _curve(histogram: object) -> tuple[list[float], list[float]] | None:
    points = histogram.get_percentile_to_value_dict(CURVE_PERCENTILES)  # type: ignore[attr-defined]
    xs = [_tail_x(p) for p in points]
    ys = [max(v, 1) / 1000 for v in points.values()]
    return (xs, ys) if histogram.get_total_count() else None  # type: ignore[attr-defined]


def _percentile_axis(ax: Axes) -> None:
    ticks = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 99.999]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator([_tail_x(p) for p in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{100 - 100 / x:g}%"))
    ax.yaxis.set_major_formatter(PLAIN)
    # minor ticks get labels only on a short span (under ~2 decades), as plain numbers ("2",
    # not the scientific "2 x 10^0" of the default)
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    ax.set_xlim(1, _tail_x(99.999))
    ax.set_xlabel("percentile")
