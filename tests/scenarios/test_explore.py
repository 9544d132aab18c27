"""`chaosgate explore`'s pure parts: seeded generation, schedule -> scenario, shrinking with a
fake runner (no stack: which schedules fail is the fake's rule)."""

from __future__ import annotations

import itertools

import pytest

from scenarios.explore import Planned, Schedule, Space, generate, mild_attributes, space_for
from scenarios.explore_scenario import (
    TAIL_S,
    explore_plan,
    explore_space,
    scenario_yaml,
    signature,
    steps,
)
from scenarios.explore_shrink import shrink
from scenarios.loader import resolve
from scenarios.schema import Scenario

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def base() -> Scenario:
    [scenario] = resolve(["baseline"], None)
    return scenario


def test_the_same_seed_gives_the_same_sequence_of_schedules(base: Scenario) -> None:
    space = explore_space(base, [], [])
    first = list(itertools.islice(generate(space, 42), 25))
    again = list(itertools.islice(generate(explore_space(base, [], []), 42), 25))
    other = list(itertools.islice(generate(space, 43), 25))
    assert first == again
    assert first != other
    assert all(space.allows(s) for s in first)


def test_generation_spreads_over_the_catalog_and_overlaps(base: Scenario) -> None:
    space = explore_space(base, [], [], max_faults=3)
    schedules = list(itertools.islice(generate(space, 1), 30))
    cells = set().union(*(s.cells() for s in schedules))
    assert {kind for kind, _, _ in cells} == set(space.kinds)  # every kind in 30 schedules
    assert {degree for _, _, degree in cells} == {1, 2, 3}
    for schedule in schedules:  # never two faults at once on one target
        for a, b in itertools.combinations(schedule.faults, 2):
            assert not (a.overlaps(b) and a.target == b.target)


def test_the_space_is_narrowed_by_kinds_and_targets_and_skips_composites(base: Scenario) -> None:
    space = explore_space(base, ["timeout", "down"], ["redis", "postgres"])
    assert space.pairs() == [("down", "postgres"), ("down", "redis"),
                             ("timeout", "postgres"), ("timeout", "redis")]  # fmt: skip
    everything = space_for(["redis"], ["redis"], 5, 20)
    assert "flapping" not in everything.kinds
    assert "overlap" not in everything.kinds


def test_every_generated_schedule_is_a_valid_scenario_with_the_recovery_promise(
    base: Scenario,
) -> None:
    space, plan = explore_space(base, [], []), explore_plan(base)
    for index, schedule in enumerate(itertools.islice(generate(space, 5), 20)):
        scenario = plan.scenario(schedule, f"s{index}", seed=5)
        recovery = [s.expression for s in scenario.kpis if s.expression.startswith("recovery(")]
        assert len(recovery) == len(scenario.faults) == len(schedule.clusters())
        assert all(e.endswith("< 30s") for e in recovery)
        assert scenario.duration_s >= scenario.faults[-1].end_s + 30


def test_overlapping_faults_become_one_overlap_step() -> None:
    a = Planned("down", "redis", 6, 5)
    b = Planned("timeout", "postgres", 8, 6, (("timeout_ms", 0),))
    c = Planned("kill", "backend", 50, 3)  # 36 s after the others: a step of its own
    [first, second] = steps(Schedule((a, b, c)))
    assert first["fault"] == "overlap"
    assert first["at_s"] == 6
    assert first["for_s"] == 8
    assert first["attributes"]["parts"]["1-postgres-timeout"]["offset_s"] == 2
    assert second["name"] == "backend-kill-1"
    assert second["fault"] == "kill"


def test_a_stated_recovery_promise_judges_groups_and_holds_the_load_by_itself(
    base: Scenario,
) -> None:
    """`--recovery-s 10`: every step judged on `< 10s`, faults 15 s apart are two steps (at the
    plan's 30 s one), and a run that never recovers lasts 10 s (+ tail) past its last fault."""
    a = Planned("down", "redis", 20, 3)
    b = Planned("timeout", "postgres", 38, 3, (("timeout_ms", 0),))  # 15 s after a's removal
    schedule = Schedule((a, b))
    assert len(schedule.clusters()) == 1
    assert len(schedule.clusters(10)) == 2
    scenario = explore_plan(base, 10).scenario(schedule, "promise")
    recovery = [s.expression for s in scenario.kpis if s.expression.startswith("recovery(")]
    assert recovery == ["recovery(redis-down-0) < 10s", "recovery(postgres-timeout-1) < 10s"]
    assert scenario.duration_s == pytest.approx(max(base.duration_s, 41 + 10 + TAIL_S))
    space = explore_space(base, ["down"], ["redis"], recovery_s=10)
    assert space.recovery_s == 10
    # four faults 15 s apart: one step of 4 under the plan's 30 s (refused: a step holds 3)
    four = Schedule(tuple(Planned("down", t, 20 + 15 * i, 3) for i, t in enumerate("abcd")))
    kinds: dict[str, tuple[str, ...]] = {"down": ("a", "b", "c", "d")}
    assert not Space(kinds, 0, 200, max_faults=6).allows(four)
    assert Space(kinds, 0, 200, max_faults=6, recovery_s=10).allows(four)


def test_one_fault_twice_in_a_step_keeps_both_parts(base: Scenario) -> None:
    """Seen: two `redis:timeout` 2 s apart were one part (named alike), none at offset 0."""
    twice = Schedule((Planned("timeout", "redis", 6, 2), Planned("timeout", "redis", 9, 3)))
    scenario = explore_plan(base).scenario(twice, "twice")
    [step] = scenario.faults
    assert len(step.attributes["parts"]) == 2


def test_a_written_scenario_loads_back_the_same(base: Scenario, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    space = explore_space(base, [], [])
    schedule = next(s for s in generate(space, 3) if len(s.clusters()) < len(s.faults))
    scenario = explore_plan(base).scenario(schedule, "found", seed=3)
    path = tmp_path / "found.yaml"
    path.write_text(scenario_yaml(scenario, ["explore --seed 3"]))
    [loaded] = resolve([str(path)], None)
    assert loaded == scenario


def test_the_signature_ignores_fault_names() -> None:
    assert signature("recovery(overlap-0) < 30s") == signature("recovery(redis-down-1) < 30s")
    assert signature("p95(GET /x) < 1ms during fault:a") == "p95(GET /x) < 1ms during fault:F"


SPACE = Space({"down": ("redis", "postgres", "warehouse"), "latency": ("redis",)}, 5, 40)


def _combo(schedule: Schedule) -> bool:
    """The fake SUT: fails only when Redis and Postgres are down at the same time."""
    redis = [f for f in schedule.faults if f.target == "redis" and f.kind == "down"]
    postgres = [f for f in schedule.faults if f.target == "postgres"]
    return any(r.overlaps(p) for r in redis for p in postgres)


def test_shrinking_keeps_only_the_two_faults_that_matter() -> None:
    failing = Schedule((
        Planned("down", "warehouse", 9, 12),
        Planned("down", "redis", 12, 14),
        Planned("down", "postgres", 16, 12),
    ))  # fmt: skip
    assert _combo(failing)
    assert SPACE.allows(failing)
    runs: list[Schedule] = []

    def fails(candidate: Schedule) -> bool:
        runs.append(candidate)
        return _combo(candidate)

    found = shrink(failing, SPACE, fails)
    assert found.complete
    assert sorted(f.target for f in found.minimal.faults) == ["postgres", "redis"]
    assert all(f.for_s <= 4 for f in found.minimal.faults)  # shortened
    assert _combo(found.minimal)
    assert [t.schedule for t in found.path] == runs  # every run recorded, kept or not
    assert found.path[0].change.startswith("drop warehouse:down")
    assert found.path[0].kept


def test_shrinking_weakens_attributes_and_stops_on_the_budget() -> None:
    space = Space({"latency": ("redis",)}, 5, 40)
    slow = Schedule((Planned("latency", "redis", 10, 4, (("latency_ms", 1800),)),))

    def latency(schedule: Schedule) -> float:
        value = dict(schedule.faults[0].attributes)["latency_ms"]
        assert isinstance(value, int)
        return value

    found = shrink(slow, space, lambda s: latency(s) >= 400)
    assert 400 <= latency(found.minimal) < 800
    calls = iter(range(100))
    cut = shrink(slow, space, lambda s: True, stop=lambda: next(calls) >= 2)
    assert not cut.complete
    assert len(cut.path) == 2


def test_a_schedule_that_stops_failing_is_not_kept() -> None:
    schedule = Schedule((Planned("down", "redis", 10, 4), Planned("down", "postgres", 11, 4)))
    found = shrink(schedule, SPACE, lambda s: s == schedule)
    assert found.minimal == schedule
    assert found.complete
    assert found.path
    assert not any(t.kept for t in found.path)


def test_the_evidence_warning_probes_a_fault_with_its_required_attributes(base: Scenario) -> None:
    """`chaosgate explore baseline` with the whole catalog stopped at once with exit 4: the
    warning's probe schedule took the space's first pair (bandwidth) without its rate_kbps."""
    from rich.console import Console

    from scenarios.explore_cli import _warn_short_evidence

    plan = explore_plan(base)
    space = explore_space(base, [], [], max_faults=3, max_overlap=3, min_for_s=3, max_for_s=15)
    assert space.pairs()[0][0] == "bandwidth"  # a kind whose attribute has no default
    _warn_short_evidence(plan, space, Console(file=None, quiet=True))


def test_faults_start_only_once_the_steady_kpis_have_their_evidence(base: Scenario) -> None:
    """Measured on the healthy reference SUT: `explore baseline --budget 20m` judged 3 of 20
    schedules, 34 runs INVALID for too few samples, because faults started right after the
    scenario's own ~5-s baseline. The window now starts where every steady KPI is planned its
    evidence (planned_n's FACTOR x its floor), for a fault at the window's very start; the load
    is held longer by as much (the window keeps its length)."""
    from scenarios.planned_n import plan as planned

    space, plan = explore_space(base, [], []), explore_plan(base)
    first_start = round(base.duration_s / 3, 1)  # no fault of its own: a third of its load
    assert space.start_s > first_start  # the shipped baseline leaves too short a baseline
    assert space.end_s - space.start_s == pytest.approx(base.duration_s - first_start)
    for kind, target in space.pairs()[::7]:
        earliest = Schedule((Planned(kind, target, space.start_s, space.min_for_s, mild_attributes(kind)),))  # fmt: skip
        steady = [
            p for p in planned(plan.scenario(earliest, "earliest")) if p.index < len(plan.kpis)
        ]
        short = [p.expression for p in steady if p.short]
        assert not short, (kind, target, short)
    # half a step earlier, one of them would be short: the start is the earliest that holds
    one = Schedule((Planned(*space.pairs()[0], space.start_s - 1.0, space.min_for_s, mild_attributes(space.pairs()[0][0])),))  # fmt: skip
    early = planned(plan.scenario(one, "early"))
    assert any(p.short for p in early if p.index < len(plan.kpis))
