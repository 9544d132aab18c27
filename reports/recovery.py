"""Recovery and detection times.

Recovery: from the fault's removal to the START of the first run of K consecutive 1-second
windows in which every steady-state check holds (K defaults to 3). The steady-state checks are
windowed KPIs evaluated per second (a probe series check reads the probe samples of that second).
Detection: from injection to the first probe sample showing the SUT noticed (not ready, or the
dependency's breaker not closed).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from reports.kpi_eval import slice_holds
from reports.kpi_parse import Kpi
from reports.model import ProbeSample, SecondBucket

DEFAULT_CONSECUTIVE = 3


def second_holds(
    checks: Sequence[Kpi], buckets: Sequence[SecondBucket], probes: Sequence[ProbeSample]
) -> bool:
    """Do all checks hold within one second's buckets and probe samples? (the registry measures)"""
    return all(slice_holds(check, buckets, probes) for check in checks)


def recovered_at(
    checks: Sequence[Kpi],
    series: Sequence[SecondBucket],
    probes: Sequence[ProbeSample],
    removed_at_s: float,
    end_s: float,
    consecutive: int = DEFAULT_CONSECUTIVE,
) -> float | None:
    """Start (scenario seconds) of the first K-second run of healthy seconds after removal."""
    if not checks:
        raise ValueError("recovery needs at least one steady-state check")
    by_second: dict[int, list[SecondBucket]] = defaultdict(list)
    for bucket in series:
        by_second[bucket.second].append(bucket)
    probes_by_second: dict[int, list[ProbeSample]] = defaultdict(list)
    for sample in probes:
        probes_by_second[math.floor(sample.t_s)].append(sample)
    first = math.ceil(removed_at_s)
    last = math.floor(end_s)  # seconds [s, s+1) that are complete before end_s
    run_start: int | None = None
    run_length = 0
    for second in range(first, last):
        if second_holds(checks, by_second[second], probes_by_second[second]):
            run_start = second if run_length == 0 else run_start
            run_length += 1
            if run_length >= consecutive:
                return float(run_start) if run_start is not None else None
        else:
            run_length = 0
    return None


def detected_at(
    probes: Sequence[ProbeSample], injected_at_s: float, until_s: float, dependency: str | None
) -> float | None:
    """First probe time in [injected, until) at which the SUT showed it noticed the fault."""
    watched = {"ready"} | ({f"breaker.{dependency}"} if dependency else set())
    for sample in sorted(probes, key=lambda p: p.t_s):
        if not injected_at_s <= sample.t_s < until_s or sample.name not in watched:
            continue
        if not isinstance(sample.value, int | float):
            continue
        if (sample.name == "ready" and sample.value < 1) or (
            sample.name != "ready" and sample.value >= 1
        ):
            return sample.t_s
    return None
