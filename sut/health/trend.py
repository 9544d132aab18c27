"""An honest saturation forecast: a least-squares line through recent pool utilisation.

Returns seconds until utilisation reaches 1.0, or None when there are too few points, the
trend is flat or falling, or the pool is already saturated (nothing to predict).
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_POINTS = 5
MIN_SLOPE = 1e-4  # utilisation per second; below this the line is "flat"


def seconds_until_saturation(points: Sequence[tuple[float, float]]) -> float | None:
    """`points` are (time_s, utilisation 0..1) in time order."""
    if len(points) < MIN_POINTS:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_u = sum(u for _, u in points) / n
    var_t = sum((t - mean_t) ** 2 for t, _ in points)
    if var_t == 0:
        return None
    slope = sum((t - mean_t) * (u - mean_u) for t, u in points) / var_t
    if slope < MIN_SLOPE:
        return None
    last_t = points[-1][0]
    fitted_now = mean_u + slope * (last_t - mean_t)
    if fitted_now >= 1.0:
        return 0.0
    return (1.0 - fitted_now) / slope
