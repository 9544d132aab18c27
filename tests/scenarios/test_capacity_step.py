"""A capacity step derived from a shipped scenario: same users, seed, warm-up and stack key (one
stack for every step), the rate held, slots with the rate, sized for its evidence, and with
--during the fault held over the judged window."""

from __future__ import annotations

import pytest

from reports.kpi_parse import parse_kpi
from scenarios.capacity_step import CapacityInputError, StepPlan, step_plan
from scenarios.loader import resolve
from scenarios.planned_n import FACTOR, plan
from scenarios.schema import Scenario, overrides_key

pytestmark = pytest.mark.unit


def shipped(name: str) -> Scenario:
    [scenario] = resolve([name], None)
    return scenario


def test_a_step_keeps_the_scenario_and_holds_the_rate() -> None:
    base = shipped("baseline")
    steps = step_plan(base, [], None, 5.0)
    assert steps.window == "baseline"
    assert set(steps.kpis) == {s.expression for s in base.kpis}  # all of baseline's are baseline
    step = steps.scenario(300.0, 12.0)
    assert step.load.users == base.load.users
    assert step.seed == base.seed
    assert step.load.warmup_s == base.load.warmup_s
    assert overrides_key(step) == overrides_key(base)  # one stack for every step
    assert step.duration_s == 12.0
    assert step.load.peak_rps == 300.0
    assert step.load.slots >= 300  # slots grow with the rate: the harness never starves a step
    assert not step.faults


def test_a_step_is_long_enough_for_twice_each_floor() -> None:
    steps = step_plan(shipped("baseline"), ["error_rate(*) < 1% during baseline"], None, 1.0)
    hold = steps.hold_s(25.0)
    [planned] = plan(steps.scenario(25.0, hold))
    assert planned.planned >= FACTOR * planned.needed  # 2 x 268 requests
    assert hold <= FACTOR * planned.needed / 25.0 + 1  # and not much longer


def test_during_a_scenario_fault_judges_its_window() -> None:
    steps = step_plan(shipped("warehouse-timeout"), [], "wh-timeout", 5.0)
    assert steps.window == "fault:wh-timeout"
    assert {parse_kpi(k).window for k in steps.kpis} == {"fault:wh-timeout"}
    step = steps.scenario(100.0, 20.0)
    [fault] = step.faults
    [phase] = [p for p in step.phases() if p.name == "fault:wh-timeout"]
    assert phase.end_s - phase.start_s == 20.0  # on for the whole judged hold
    assert phase.start_s == 10.0  # after the scenario's own lead: its cache fills first
    assert fault.attributes == {"timeout_ms": 0}


def test_during_a_catalog_fault_moves_the_baseline_kpis_onto_it() -> None:
    steps = step_plan(shipped("baseline"), ["p95(GET /api/items) < 200ms during baseline"],
                      "postgres:latency:latency_ms=300", 5.0)  # fmt: skip
    assert steps.kpis == ("p95(GET /api/items) < 200ms during fault:postgres-latency",)
    [fault] = steps.scenario(50.0, 10.0).faults
    assert (fault.target, fault.fault, fault.attributes) == (
        "postgres",
        "latency",
        {"latency_ms": 300},
    )


@pytest.mark.parametrize(
    ("kpis", "during", "says"),
    [
        (["p95(GET /nope) < 1s during baseline"], None, "GET /nope"),
        (["recovery(x) < 5s"], None, "windowed"),
        ([], "nope", "no fault of that name"),
        ([], "nowhere:latency", "nowhere"),
        ([], "postgres:latency:oops", "key=value"),
    ],
)
def test_bad_input(kpis: list[str], during: str | None, says: str) -> None:
    with pytest.raises(CapacityInputError, match=says):
        step_plan(shipped("baseline"), kpis, during, 5.0)


def test_the_plan_is_what_every_step_shares() -> None:
    steps = step_plan(shipped("baseline"), [], None, 5.0)
    assert isinstance(steps, StepPlan)
    assert steps.scenario(10.0, 5.0).name != steps.scenario(10.0, 5.0, "-run2").name


def _with(*extra: str) -> Scenario:
    base = shipped("baseline")
    data = base.model_dump(mode="python")
    data["kpis"] = [*data["kpis"], *extra]
    return Scenario.model_validate(data)


def test_a_capacity_kpi_holds_the_baseline_kpis_on_its_request() -> None:
    steps = step_plan(_with("capacity(GET /api/items) >= 300rps"), [], None, 5.0)
    assert steps.checks == ("capacity(GET /api/items) >= 300rps",)
    assert steps.capacity_floor == 300
    assert {parse_kpi(k).argument for k in steps.kpis} <= {"GET /api/items", "*"}
    assert "p95(GET /api/items) < 200ms during baseline" in steps.kpis
    # --kpi (or --during) is another definition of capacity: the KPI is not judged then
    given = step_plan(_with("capacity(GET /api/items) >= 300rps"),
                      ["p99(GET /api/items) < 1s during baseline"], None, 5.0)  # fmt: skip
    assert given.checks == ()


def test_capacity_kpis_on_two_requests_are_refused() -> None:
    scenario = _with("capacity(GET /api/items) >= 300rps",
                     "capacity(GET /api/dashboard/performance) >= 100rps")  # fmt: skip
    with pytest.raises(CapacityInputError, match="one search judges one request"):
        step_plan(scenario, [], None, 5.0)


def test_a_run_does_not_judge_a_capacity_kpi() -> None:
    kpi = parse_kpi("capacity(*) >= 10rps")
    assert (kpi.unit, kpi.window, kpi.entry.in_run) == ("rps", None, False)
    assert all(parse_kpi(k).entry.in_run for k in ("p95(*) < 1s", "recovery(x) < 30s"))
