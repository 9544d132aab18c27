"""Warnings about a scenario's KPIs that are valid but judge less than they seem (stderr, never
an error): a latency percentile reads every request, errors included, so a service answering
fast 503s passes `p95(x) < 200ms during fault:f` unless an error rate on `x` (or `*`) is
judged in the same window."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from reports.kpi_parse import Kpi

PERCENTILES = frozenset({"p50", "p90", "p95", "p99", "p999"})
ERROR_GUARDS = frozenset({"error_rate"})


def _covers(guard: str | None, window: str | None) -> bool:
    """An error rate over `guard` also reads the requests of `window` (`fault` pools every
    fault window, `recovery` every recovery window)."""
    if guard is None or window is None:
        return False
    return guard == window or window.split(":", 1)[0] == guard


def unguarded_percentiles(
    kpis: Iterable[Kpi], probe_series: frozenset[str] = frozenset()
) -> list[tuple[int, Kpi]]:
    """(index, KPI) of each percentile on a request name with no error rate on that name (or
    `*`) in its window. Percentiles of probe series (db_query, ...) are not requests."""
    kpis = list(kpis)
    guards = [k for k in kpis if k.function in ERROR_GUARDS]
    found = []
    for index, kpi in enumerate(kpis):
        if kpi.function not in PERCENTILES or kpi.argument in probe_series:
            continue
        if not any(
            g.argument in (kpi.argument, "*") and _covers(g.window, kpi.window) for g in guards
        ):
            found.append((index, kpi))
    return found


def warn_unguarded(
    kpis: Iterable[Kpi],
    where: Callable[[int], str],
    probe_series: frozenset[str] = frozenset(),
) -> list[str]:
    """Print one warning per unguarded percentile to stderr (`where(index)`: "file:line");
    returns them."""
    lines = []
    for index, kpi in unguarded_percentiles(kpis, probe_series):
        name = kpi.argument
        lines.append(
            f"{where(index)}: warning: {kpi.text!r} judges a latency percentile with no error "
            f"rate beside it: fast failures pass it (add 'error_rate({name}) < N% during "
            f"{kpi.window}')"
        )
    for line in lines:
        print(line, file=sys.stderr)
    return lines
