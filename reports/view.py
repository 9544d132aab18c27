"""Presentation helpers shared by the renderers: wording and number formats, nothing computed.

Every renderer says the same thing the same way (a negative margin gets a true minus sign
in HTML, Markdown and JUnit alike), and orders KPIs the same way: failures first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

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

    @property
    def word(self) -> str:
        """The verdict as printed: an invalid run's KPIs were never judged."""
        if self.outcome == "invalid":
            return "not judged"
        if self.kpi.status == "insufficient":
            return f"insufficient ({self.kpi.samples} of {self.kpi.needed} samples)"
        return "pass" if self.kpi.passed else "FAIL"


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


def number(value: float | None, unit: str = "", *, exact: bool = False) -> str:
    """A human number with its unit: 1130.5 ms, 8.5 %, 3; "n/a" when nothing was measured.
    Below 0.01, two significant digits (0.0012 ms is not 0). `exact`: every digit the value
    has (a threshold is printed as it was written: `p95 < 0.001ms` requires < 0.001 ms)."""
    if value is None:
        return "n/a"
    if float(value).is_integer():
        text = f"{value:.0f}"
    elif exact:
        text = format(Decimal(repr(float(value))), "f")  # shortest round-trip, no exponent
    elif abs(value) < 0.01:
        text = format(Decimal(f"{value:.2g}"), "f")
    else:
        text = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    text = "0" if text.strip("-0.") == "" else text.replace("-", "\u2212")
    suffix = {"count": "", "%": "%", "": ""}.get(unit, f" {unit}")
    return f"{text}{suffix}"


def threshold(kpi: KpiVerdict) -> str:
    return f"{kpi.comparator} {number(kpi.threshold, kpi.unit, exact=True)}"


def scenario_seed(scenario: ScenarioResult, run_seed: int | None) -> int | None:
    """The seed this scenario's arrivals were drawn with: its `seed:`, else its `load.seed`
    (the validated scenario is in the result); `run_seed` for results without it."""
    validated = scenario.scenario
    if not validated:
        return run_seed
    if validated.get("seed") is not None:
        return int(validated["seed"])
    load = validated.get("load")
    seed = load.get("seed") if isinstance(load, dict) else None
    return int(seed) if seed is not None else run_seed


def seeds(result: RunResult) -> str:
    """`7`, or each scenario's own when they differ: `pg-down 7, redis-down 9`."""
    found = [(s.name, scenario_seed(s, result.run.seed)) for s in result.scenarios]
    if len({value for _, value in found}) <= 1:
        return seed(found[0][1] if found else result.run.seed)
    return ", ".join(f"{name} {seed(value)}" for name, value in found)


def bound(kpi: KpiVerdict) -> float | None:
    """What the threshold was compared with when it is not the measured value (a rate's
    confidence bound: 0 errors in 270 requests is "at most 1.11 %", not "0 %"), else None."""
    if kpi.margin is None or kpi.measured is None or kpi.comparator not in "<=>=":
        return None
    compared = (
        kpi.threshold - kpi.margin if kpi.comparator in ("<", "<=") else kpi.threshold + kpi.margin
    )
    return compared if abs(compared - kpi.measured) > 1e-9 * max(1.0, abs(compared)) else None


def margin(kpi: KpiVerdict) -> str:
    """Headroom to the threshold; from the bound when the verdict compared a bound (else a
    0 % error rate would show a margin of "-0.11 %" and no reason)."""
    if kpi.margin is None or kpi.status == "insufficient":
        return "n/a"
    sign = "+" if kpi.margin > 0 else ""
    text = sign + number(kpi.margin, kpi.unit)
    compared = bound(kpi)
    if compared is not None:
        side = "upper" if kpi.comparator in ("<", "<=") else "lower"
        text += f" (of the {side} bound {number(compared, kpi.unit)})"
    return text


def seed(value: int | None) -> str:
    return "not set" if value is None else str(value)


def status_label(kind: str) -> str:
    """An error kind as people read it: `http_401` is "401", an exception its name."""
    return kind.removeprefix("http_")


@dataclass(frozen=True)
class ErrorRow:
    """One request name's errors over a scenario, by kind (HTTP status or exception)."""

    name: str
    requests: int
    errors: int
    kinds: tuple[tuple[str, int], ...]  # most frequent first

    def text(self) -> str:
        pct = 100 * self.errors / self.requests if self.requests else 0.0
        kinds = ", ".join(f"{status_label(kind)} \u00d7 {n}" for kind, n in self.kinds)
        share = f"{pct:.0f}" if pct >= 10 else f"{pct:.1f}"
        return (
            f"{share} % errors ({self.errors} of {self.requests}): {kinds or 'kind not recorded'}"
        )


def error_rows(scenario: ScenarioResult) -> list[ErrorRow]:
    """The request names that had errors, most errors first ("84 % errors: 401 x 602")."""
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    kinds: dict[str, Counter[str]] = {}
    for bucket in scenario.series:
        counts[bucket.name] += bucket.count
        errors[bucket.name] += bucket.errors
        kinds.setdefault(bucket.name, Counter()).update(bucket.error_kinds)
    rows = [
        ErrorRow(name, counts[name], n, tuple(kinds[name].most_common()))
        for name, n in errors.items()
        if n
    ]
    return sorted(rows, key=lambda row: (-row.errors, row.name))


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
