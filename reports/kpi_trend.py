"""The trend KPI `slope(SERIES) < X per hour`: how fast a probe series drifts, so a slow leak
fails a soak (SUT RSS, open fds, pool in use...).

The estimator is Theil-Sen (`scipy.stats.theilslopes`: the median of the pairwise slopes), not
least squares: a GC pause, a restart or one odd sample moves a least-squares line, not the median
slope. A claim is judged by the one-sided 95 % bound of that slope (its 90 % two-sided interval):
`< X` passes only when we are 95 % sure the series rises slower than X per hour, like
`error_rate`'s Wilson bound. A short or noisy series has a wide interval: it cannot pass.

Enough evidence: at least SLOPE_MIN_POINTS samples over at least SLOPE_MIN_SPAN_S seconds (the
probes sample every ~0.5 s, so 30 s is ~60 samples); below either the verdict is insufficient.
A rate of hours read off a minute is an extrapolation: state a soak's threshold from its plan,
and give the run the length that claim needs.
"""

from __future__ import annotations

from collections.abc import Sequence

from reports.kpi_cost import Found, points_of
from reports.model import ScenarioResult

SLOPE_MIN_POINTS = 20
SLOPE_MIN_SPAN_S = 30.0
CONFIDENCE = 0.90  # two-sided: each side is a one-sided 95 % bound
PER_HOUR = 3600.0


def measure_slope(
    result: ScenarioResult,
    series: str,
    spans: Sequence[tuple[float, float]],
    comparator: str,
) -> tuple[Found, float | None, str]:
    """(the slope per hour with its detail, the bound the claim is judged by, why the evidence
    is short or ""). The bound is the upper one for < and <=, the lower one for > and >=."""
    points = sorted(p for p in points_of(result, series) if any(a <= p[0] < z for a, z in spans))
    if not points:
        return Found(None, 0, f"no {series} samples in the window"), None, ""
    span = points[-1][0] - points[0][0]
    if len(points) < 2 or span <= 0:
        return Found(0.0, len(points), f"{len(points)} sample(s) of {series}"), None, ""
    from scipy.stats import theilslopes  # ~55 MB of RSS: only in a process that judges one

    times = [t for t, _ in points]
    values = [v for _, v in points]
    slope, _intercept, low, high = theilslopes(values, times, alpha=CONFIDENCE)
    per_hour = float(slope) * PER_HOUR
    bound = float(high if comparator in ("<", "<=") else low) * PER_HOUR
    side = "upper" if comparator in ("<", "<=") else "lower"
    detail = (
        f"Theil-Sen over {len(points)} samples in {span:.0f} s: {values[0]:g} -> {values[-1]:g};"
        f" 95 % {side} bound {bound:.4g} per hour"
    )
    short = ""
    if span < SLOPE_MIN_SPAN_S:
        short = f"{series} sampled over {span:.0f} s; a slope needs at least {SLOPE_MIN_SPAN_S:g} s"
    return Found(per_hour, len(points), detail), bound, short
