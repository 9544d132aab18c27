"""JUnit XML: one testsuite per scenario, one testcase per KPI, so any CI shows KPIs as tests.

A failed KPI is a <failure> (measured vs threshold); an invalid scenario's KPIs are <error>s,
because they are neither passed nor failed. An invalid scenario without KPIs still gets one
errored testcase, so CI never shows it as green.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from reports import view
from reports.model import KpiVerdict, RunResult, ScenarioResult


def render_junit(result: RunResult) -> str:
    root = ET.Element("testsuites", name=f"chaosgate {result.run.run_id}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for scenario in result.scenarios:
        suite = _suite(result, scenario)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", _seconds(sum(s.duration_s for s in result.scenarios)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(result: RunResult, scenario: ScenarioResult) -> ET.Element:
    started = datetime.fromtimestamp(scenario.t0, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    suite = ET.Element("testsuite", name=scenario.name, timestamp=started)
    suite.set("hostname", result.run.machine.hostname)
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(result, scenario):
        ET.SubElement(properties, "property", name=name, value=value)
    cases = [_case(scenario, kpi) for kpi in scenario.kpis]
    if scenario.status == "invalid" and not cases:
        case = ET.Element("testcase", classname=scenario.name, name="scenario is valid", time="0")
        ET.SubElement(case, "error", type="RunInvalid", message=_invalid(scenario)).text = _invalid(
            scenario
        )
        cases.append(case)
    suite.extend(cases)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    suite.set("errors", str(sum(c.find("error") is not None for c in cases)))
    suite.set("skipped", "0")
    suite.set("time", _seconds(scenario.duration_s))
    if scenario.description:
        ET.SubElement(suite, "system-out").text = scenario.description
    return suite


def _case(scenario: ScenarioResult, kpi: KpiVerdict) -> ET.Element:
    case = ET.Element("testcase", classname=scenario.name, name=kpi.expression, time="0")
    if scenario.status == "invalid":
        ET.SubElement(
            case, "error", type="RunInvalid", message=_invalid(scenario)
        ).text = f"{_invalid(scenario)}\nrecorded (not a verdict): {view.failure_message(kpi)}"
    elif not kpi.passed:
        message = view.failure_message(kpi)
        failure = ET.SubElement(case, "failure", type="KpiFailed", message=message)
        lines = [kpi.expression, f"window: {kpi.window}", message]
        if kpi.breached_at_s is not None:
            lines.append(f"breached at {kpi.breached_at_s:.1f} s")
        if kpi.message:
            lines.append(kpi.message)
        failure.text = "\n".join(lines)
    return case


def _invalid(scenario: ScenarioResult) -> str:
    return f"run invalid: {scenario.invalid_reason or 'no reason recorded'}"


def _properties(result: RunResult, scenario: ScenarioResult) -> list[tuple[str, str]]:
    run = result.run
    pairs = [
        ("run_id", run.run_id),
        ("commit", run.commit or ""),
        ("backend", run.backend),
        ("seed", "" if (seed := view.scenario_seed(scenario, run.seed)) is None else str(seed)),
        ("chaosgate_version", run.chaosgate_version),
        ("scenario_status", scenario.status),
    ]
    return pairs


def _seconds(value: float) -> str:
    return f"{value:.3f}"
