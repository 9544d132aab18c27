"""Presentation helpers shared by the renderers: wording and number formats, nothing computed.

Every renderer says the same thing the same way (a negative margin gets a true minus sign
in HTML, Markdown and JUnit alike), and orders KPIs the same way: failures first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from reports.kpi_functions import FUNCTIONS, matches
from reports.model import KpiVerdict, RunResult, ScenarioResult

MOSTLY_ERRORS = 0.5  # a latency read over more errors than this says so next to its value

VERDICT_WORD = {"pass": "PASS", "fail": "FAIL", "invalid": "INVALID"}
VERDICT_MEANING = {
    "pass": "every KPI held",
    "fail": "a KPI failed",
    "invalid": "the run cannot be trusted (neither pass nor fail)",
}


@dataclass(frozen=True)
class KpiRow:
    """One KPI verdict with the scenario it belongs to, ready to print."""

    scenario: ScenarioResult
    kpi: KpiVerdict

    @property
    def outcome(self) -> str:
        if self.scenario.status == "invalid":
            return "invalid"
        return "pass" if self.kpi.passed else "fail"

    @property
    def note(self) -> str:
        return mostly_errors(self.scenario, self.kpi)


def mostly_errors(scenario: ScenarioResult, kpi: KpiVerdict) -> str:
    """ "954 of 955 were errors" when a latency KPI's requests in its window were mostly
    errors (a fast 503 makes a fine p95); "" otherwise, and for probe series."""
    entry = FUNCTIONS.get(kpi.function)
    if entry is None or entry.unit != "ms" or not kpi.spans:
        return ""
    count = errors = 0
    for bucket in scenario.series:
        if matches(entry, kpi.argument, bucket.name) and any(
            start <= bucket.mid_s < end for start, end in kpi.spans
        ):
            count, errors = count + bucket.count, errors + bucket.errors
    if not count or errors <= MOSTLY_ERRORS * count:
        return ""
    return f"{errors} of {count} were errors"


def kpi_rows(result: RunResult) -> list[KpiRow]:
    """Every KPI of the run: failed first, then invalid, then passed; stable within a group."""
    rows = [KpiRow(s, k) for s in result.scenarios for k in s.kpis]
    order = {"fail": 0, "invalid": 1, "pass": 2}
    return sorted(rows, key=lambda row: order[row.outcome])


def count_outcomes(rows: list[KpiRow]) -> dict[str, int]:
    counts = {"pass": 0, "fail": 0, "invalid": 0}
    for row in rows:
        counts[row.outcome] += 1
    return counts


def number(value: float | None, unit: str = "") -> str:
    """A human number with its unit: 1130.5 ms, 8.5 %, 3; "n/a" when nothing was measured."""
    if value is None:
        return "n/a"
    if float(value).is_integer():
        text = f"{value:.0f}"
    else:
        text = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    text = "0" if text.strip("-0.") == "" else text.replace("-", "\u2212")
    suffix = {"count": "", "%": "%", "": ""}.get(unit, f" {unit}")
    return f"{text}{suffix}"


def threshold(kpi: KpiVerdict) -> str:
    return f"{kpi.comparator} {number(kpi.threshold, kpi.unit)}"


def margin(kpi: KpiVerdict) -> str:
    if kpi.margin is None:
        return "n/a"
    sign = "+" if kpi.margin > 0 else ""
    return sign + number(kpi.margin, kpi.unit)


def failure_message(kpi: KpiVerdict) -> str:
    """measured vs threshold, in one line, as CI systems show it (the gate's own wording,
    `kpi.message`, goes in the JUnit failure body, where it does not repeat this line)."""
    if (
        kpi.status == "insufficient"
        and kpi.samples is not None
        and kpi.samples >= (kpi.needed or 0)
    ):
        return kpi.message  # enough samples, too short a window (count, rps)
    if kpi.status == "insufficient":
        return f"insufficient evidence: {kpi.samples} samples, {kpi.function} needs {kpi.needed}"
    return f"measured {number(kpi.measured, kpi.unit)}, required {threshold(kpi)} (margin {margin(kpi)})"


def when(unix_time: float) -> str:
    return datetime.fromtimestamp(unix_time, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_commit(commit: str | None) -> str:
    return commit[:10] if commit else "unknown"


def headline(result: RunResult) -> str:
    """The one sentence a reader needs first: the verdict and how many KPIs failed."""
    rows = kpi_rows(result)
    counts = count_outcomes(rows)
    word = VERDICT_WORD[result.status]
    if result.status == "invalid":
        invalid = [s.name for s in result.scenarios if s.status == "invalid"]
        return f"{word}: {len(invalid)} scenario(s) invalid, no verdict: {', '.join(invalid)}"
    if result.status == "fail":
        return f"{word}: {counts['fail']} of {len(rows)} KPIs failed"
    return f"{word}: all {len(rows)} KPIs held across {len(result.scenarios)} scenarios"
