"""Abort on breach: a KPI marked `abort` that stays broken for its grace period stops the run.

Checked live on completed seconds. At each one the KPI is judged over its window SO FAR (the
load engine's merged buckets and the probe samples from the window's start to that second),
with the KPI's evidence rule applied to the breach (`kpi_eval.shown_broken`: `error_rate < 1%`
is broken when its Wilson LOWER bound reaches 1 %; a percentile on its floor): one second's
point value never aborts a run. The streak is the run of seconds the window so far has been
shown broken. The KPI's final verdict is its own evaluation (the runner marks it as the one
that aborted the run, never forces it to FAIL). Only functions the registry marks `live` (the
windowed ones) can be checked live; others (recovery, lost...) are judged at the end, and
validation refuses `abort` on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reports.kpi_eval import shown_broken, window_spans
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
            for spec in watched:
                kpi = spec.kpi
                spans = window_spans(kpi.window or "whole", self.phases, self.duration_s)
                if not any(start <= second + 0.5 < end for start, end in spans):
                    continue
                so_far = [
                    (start, min(end, second + 1.0)) for start, end in spans if start < second + 1
                ]
                buckets = [b for b in series if any(a <= b.mid_s < e for a, e in so_far)]
                samples = [p for p in probes if any(a <= p.t_s < e for a, e in so_far)]
                seconds = sum(e - a for a, e in so_far)
                if not shown_broken(kpi, buckets, samples, seconds):
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
