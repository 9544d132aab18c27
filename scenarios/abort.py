"""Abort on breach: a KPI marked `abort` that stays broken for its grace period stops the run.

Checked live on completed seconds (the load engine's merged buckets so far, the probe samples so
far). Only functions the registry marks `live` (the windowed ones) can be checked live; others
(recovery, lost...) are judged at the end, and validation refuses `abort` on them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from reports.kpi_eval import slice_holds, window_spans
from reports.model import Phase, ProbeSample, SliceBucket
from scenarios.schema import KpiSpec


@dataclass(frozen=True)
class Breach:
    expression: str
    first_broken_s: float  # start of the broken streak
    decided_at_s: float  # when the grace ran out


@dataclass
class AbortWatch:
    specs: Sequence[KpiSpec]
    phases: Sequence[Phase]
    duration_s: float
    _checked_until: int = 0
    _streak_start: dict[str, int | None] = field(default_factory=dict)

    @property
    def watched(self) -> list[KpiSpec]:
        return [s for s in self.specs if s.abort and s.kpi.entry.live]

    @property
    def active(self) -> bool:
        return bool(self.watched)

    def check(
        self, series: Sequence[SliceBucket], probes: Sequence[ProbeSample], complete_until: int
    ) -> Breach | None:
        """Look at seconds [checked, complete_until); return the first breach whose grace ran out."""
        watched = self.watched
        for second in range(self._checked_until, complete_until):
            buckets = [b for b in series if math.floor(b.mid_s) == second]
            samples = [p for p in probes if math.floor(p.t_s) == second]
            for spec in watched:
                kpi = spec.kpi
                spans = window_spans(kpi.window or "whole", self.phases, self.duration_s)
                if not any(start <= second + 0.5 < end for start, end in spans):
                    continue
                if not buckets and not samples:
                    continue  # no traffic yet (start-up): nothing to judge
                if slice_holds(kpi, buckets, samples):
                    self._streak_start[spec.expression] = None
                    continue
                start = self._streak_start.get(spec.expression)
                if start is None:
                    start = self._streak_start[spec.expression] = second
                if second + 1 - start >= max(spec.grace_s, 1.0):
                    self._checked_until = second + 1
                    return Breach(spec.expression, float(start), float(second + 1))
        self._checked_until = max(self._checked_until, complete_until)
        return None
