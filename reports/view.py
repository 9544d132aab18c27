"""Presentation helpers shared by the renderers: wording and number formats, nothing computed.

Every renderer says the same thing the same way (a negative margin gets a true minus sign
in HTML, Markdown and JUnit alike), and orders KPIs the same way: failures first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from reports.model import KpiVerdict, RunResult, ScenarioResult

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
    if len({seed for _, seed in found}) <= 1:
        return str(found[0][1] if found else result.run.seed)
    return ", ".join(f"{name} {seed}" for name, seed in found)


def margin(kpi: KpiVerdict) -> str:
    if kpi.margin is None:
        return "n/a"
    sign = "+" if kpi.margin > 0 else ""
    return sign + number(kpi.margin, kpi.unit)


def failure_message(kpi: KpiVerdict) -> str:
    """measured vs threshold, in one line, as CI systems show it (the gate's own wording,
    `kpi.message`, goes in the JUnit failure body, where it does not repeat this line)."""
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
