"""Too few load slots is INVALID; an overloaded SUT is a FAIL. Which one a run with a slot
shortage was.

Little's law says a run needs `rate x service time` slots; when sends starved for a slot, the
harness's own queue added latency, so a latency FAIL may be the harness's (INVALID, issue 20).
But an overloaded SUT also starves the slots: its service time grows with its queue. A failed
KPI that the harness's queue cannot explain keeps the FAIL:
- an outcome rate (errors, timeouts, degraded, wrong answers) of a named request: a late send
  does not make the SUT answer badly, and more slots would only send it more at once;
- a latency percentile at or above p50 whose request's own service time (from its real send,
  no queue in it) already had a median above the threshold: no number of slots lowers it.
"""

from __future__ import annotations

from collections.abc import Sequence

from reports.model import GeneratorHealth, KpiVerdict

SLOTS_PROBLEM = "too few slots"  # the head of the load problem scenarios.load.run writes
_OUTCOME_RATES = frozenset({"error_rate", "timeout_rate", "degraded_rate", "wrong_rate"})


def _percentile(function: str) -> float | None:
    if function == "p999":
        return 99.9
    if function.startswith("p"):
        try:
            return float(function[1:])
        except ValueError:
            return None
    return None


def sut_owned_failure(verdicts: Sequence[KpiVerdict], generator: GeneratorHealth) -> str | None:
    """The first failed KPI a slot shortage cannot explain, with why; None if there is none."""
    for verdict in verdicts:
        if verdict.status != "fail" or verdict.comparator not in ("<", "<="):
            continue
        # `*` also counts the sends still queued in the harness at the stop (its own errors)
        if verdict.function in _OUTCOME_RATES and verdict.argument != "*":
            return f"{verdict.expression}: an outcome rate, not made by late sends"
        percentile = _percentile(verdict.function)
        median = generator.service_p50_ms.get(verdict.argument)
        above = median is not None and verdict.unit == "ms" and median > verdict.threshold
        if percentile is not None and percentile >= 50 and above:
            return (f"{verdict.expression}: the SUT's own median service time "
                    f"{median:.0f} ms is already above it")  # fmt: skip
    return None


def drop_excused_slots(reasons: list[str], verdicts: Sequence[KpiVerdict],
                       generator: GeneratorHealth) -> list[str]:  # fmt: skip
    """The load reasons without the slot shortage when a failed KPI is the SUT's own."""
    if not any(r.startswith(SLOTS_PROBLEM) for r in reasons):
        return reasons
    if sut_owned_failure(verdicts, generator) is None:
        return reasons
    return [r for r in reasons if not r.startswith(SLOTS_PROBLEM)]
