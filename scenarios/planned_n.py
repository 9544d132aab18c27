"""A gate sized for its evidence, before it runs: each KPI's PLANNED sample count.

`chaosgate run --check` calls `problems()`: a KPI planned below `FACTOR` x its floor (the
samples its verdict needs, reports.kpi_functions) is refused, exit 2, at its file:line with the
planned and needed n. Twice the floor, because the plan is an expectation: the sends of one
request name are a binomial draw from the mix, errors and a late start take their share, and a
gate planned at its floor is INVALID about half the time.

Planned n of a windowed request KPI = intended sends in its window (the rate profile's integral
over the window, scenarios.load.schedule) x the share of the argument's request names in the
HTTP mix. The share of a name = its user class's weight / the HTTP classes' weights x its
task's weight / the class's task weights (the dispatcher draws a class by weight per ticket,
Locust a task by weight per class). A task's names are read from its source (the `name=` its
calls give); a task that names two requests (a fallback branch) splits its weight evenly; one
that names none is unknown (noted, its share counted for no name). Assumed: set-ups succeed (a
read of "my item" is not turned into a read of the list). WebSocket sends ("WS send") follow
`websocket_rps`; probe series one sample per `PROBE_INTERVAL_S`; `delivered(ws)` the WebSocket
messages of the whole run. Other window-less KPIs (recovery, detect, lost...) are not planned.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from reports.kpi_cost import edge_argument
from reports.kpi_functions import MIN_COUNT_WINDOW_S, WS_SEND, matches
from reports.kpi_parse import Kpi
from reports.windows import recovery_window
from scenarios.load.plan import LoadPlan, RateStep
from scenarios.load.schedule import segments
from scenarios.users import USER_CLASSES, is_mix

FACTOR = 2.0
PROBE_INTERVAL_S = 0.5  # scenarios.probes samples every ~0.5 s


@dataclass(frozen=True)
class Planned:
    index: int  # the KPI's index in `kpis`
    expression: str
    planned: float
    needed: int
    note: str = ""

    @property
    def short(self) -> bool:
        return self.planned < FACTOR * self.needed


def sends_between(steps: list[RateStep], start_s: float, end_s: float) -> float:
    """Intended sends in [start, end): the piecewise-linear rate profile's integral."""
    total = 0.0
    for seg in segments(steps):
        low, high = max(seg.start_s, start_s), min(seg.end_s, end_s)
        if high <= low:
            continue
        slope = (seg.rate_to - seg.rate_from) / (seg.end_s - seg.start_s)
        at_low = seg.rate_from + slope * (low - seg.start_s)
        at_high = seg.rate_from + slope * (high - seg.start_s)
        total += (at_low + at_high) / 2 * (high - low)
    return total


# -- the mix ----------------------------------------------------------------------------------
def _task_weight(decorator: ast.expr) -> float | None:
    if isinstance(decorator, ast.Name) and decorator.id == "task":
        return 1.0
    if (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Name)
        and decorator.func.id == "task"
    ):
        if decorator.args and isinstance(decorator.args[0], ast.Constant):
            value = decorator.args[0].value
            return float(value) if isinstance(value, int | float) else 1.0
        return 1.0
    return None


def _names_in(
    function: ast.FunctionDef,
    methods: dict[str, ast.FunctionDef],
    seen: frozenset[str] = frozenset(),
) -> list[str]:
    """The request names a method's calls give (`name="..."`); a method that gives none
    directly sends what the `self.<method>()` it calls send (a helper that posts)."""
    calls = [node for node in ast.walk(function) if isinstance(node, ast.Call)]
    found = [
        keyword.value.value
        for node in calls
        for keyword in node.keywords
        if keyword.arg == "name"
        and isinstance(keyword.value, ast.Constant)
        and isinstance(keyword.value.value, str)
    ]
    if found:
        return list(dict.fromkeys(found))
    for node in calls:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "self"
            and func.attr in methods
            and func.attr not in seen
        ):
            found += _names_in(methods[func.attr], methods, seen | {function.name})
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class UserMix:
    weight: float
    kind: str  # ticket kind: "http" or "ws"
    shares: dict[str, float]  # request name -> share of this class's sends
    note: str = ""


def _class_mix(source: Path, class_name: str) -> UserMix:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    weight, kind = 1.0, "http"
    tasks: list[tuple[float, list[str]]] = []
    methods = {f.name: f for f in node.body if isinstance(f, ast.FunctionDef)}
    for statement in node.body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant):
            for target in statement.targets:
                if isinstance(target, ast.Name) and target.id == "weight":
                    weight = float(statement.value.value)  # type: ignore[arg-type]
                if isinstance(target, ast.Name) and target.id == "ticket_kind":
                    kind = str(statement.value.value)
        if isinstance(statement, ast.FunctionDef):
            for decorator in statement.decorator_list:
                task_weight = _task_weight(decorator)
                if task_weight is not None:
                    tasks.append((task_weight, _names_in(statement, methods)))
    total = sum(w for w, _ in tasks) or 1.0
    shares: dict[str, float] = {}
    unknown = [w for w, names in tasks if not names]
    for task_weight, names in tasks:
        for name in names:
            shares[name] = shares.get(name, 0.0) + task_weight / total / len(names)
    # a WebSocket class's sends are "WS send" on their own schedule (websocket_rps)
    note = (
        f"{class_name}: {len(unknown)} task(s) name no request"
        if unknown and kind == "http"
        else ""
    )
    return UserMix(weight, kind, shares, note)


def user_mix(entry: str) -> UserMix:
    """One `load.users` entry's weight, ticket kind and request shares."""
    if entry in USER_CLASSES:
        module, _, class_name = USER_CLASSES[entry].partition(":")
        source = Path(__file__).parent / "users" / (module.rsplit(".", 1)[-1] + ".py")
        return _class_mix(source, class_name)
    if is_mix(entry):
        from scenarios.users.request_mix import load_mix

        requests = load_mix(Path(entry)).requests
        total = sum(r.weight for r in requests)
        shares: dict[str, float] = {}
        for request in requests:
            shares[request.name] = shares.get(request.name, 0.0) + request.weight / total
        return UserMix(1.0, "http", shares, "")
    path, _, class_name = entry.rpartition(":")
    try:
        return _class_mix(Path(path), class_name)
    except (OSError, SyntaxError, StopIteration, ValueError, TypeError):
        return UserMix(1.0, "http", {}, f"{entry}: mix not readable statically (not planned)")


def http_shares(users: Iterable[str]) -> tuple[dict[str, float], list[str]]:
    """Request name -> share of all HTTP sends; notes on what could not be known."""
    mixes = [user_mix(u) for u in users]
    http = [m for m in mixes if m.kind == "http"]
    total = sum(m.weight for m in http) or 1.0
    shares: dict[str, float] = {}
    for mix in http:
        for name, share in mix.shares.items():
            shares[name] = shares.get(name, 0.0) + mix.weight / total * share
    return shares, [m.note for m in mixes if m.note]


# -- planned n --------------------------------------------------------------------------------
def _spans(kpi: Kpi, phases: Sequence[tuple[str, str, float, float]], duration_s: float) -> list[tuple[float, float]]:  # fmt: skip
    window = kpi.window or "whole"
    if window == "whole":
        return [(0.0, duration_s)]
    if window in ("fault", "recovery"):
        return [(s, e) for _name, kind, s, e in phases if kind == window]
    return [(s, e) for name, _kind, s, e in phases if name == window]


def plan(scenario: object) -> list[Planned]:
    """Each plannable KPI of a validated `Scenario`: planned and needed n."""
    from scenarios.probes import PROBE_SERIES
    from scenarios.schema import Scenario

    assert isinstance(scenario, Scenario)
    load = scenario.load
    shares, notes = http_shares(load.users)
    phases = [(p.name, p.kind, p.start_s, p.end_s) for p in scenario.phases()]
    out = []
    for index, spec in enumerate(scenario.kpis):
        kpi = spec.kpi
        needed = kpi.entry.needed(kpi.comparator, kpi.threshold)
        if kpi.function == "delivered":
            planned = load.websocket_rps * scenario.duration_s
            out.append(Planned(index, spec.expression, planned, needed))
            continue
        if kpi.function == "recovery":  # each steady check must be shown over the recovery
            window = recovery_window(kpi.argument)
            for check in scenario.steady_checks():
                spans = [(p_s, p_e) for name, _k, p_s, p_e in phases if name == window]
                planned = _planned(check, spans, load, shares, PROBE_SERIES)
                floor = check.entry.needed(check.comparator, check.threshold)
                what = f"{spec.expression}: its steady check {check.text} over {window}"
                out.append(Planned(index, what, planned, floor, "; ".join(notes)))
            continue
        if not kpi.entry.windowed:
            continue
        spans = _spans(kpi, phases, scenario.duration_s)
        planned = _planned(kpi, spans, load, shares, PROBE_SERIES)
        out.append(Planned(index, spec.expression, planned, needed, "; ".join(notes)))
    return out


def _planned(
    kpi: Kpi,
    spans: Sequence[tuple[float, float]],
    load: LoadPlan,
    shares: dict[str, float],
    probe_series: frozenset[str],
) -> float:
    """Samples a windowed KPI's argument is planned to get over these spans."""
    seconds = sum(e - s for s, e in spans)
    if kpi.argument in probe_series and kpi.argument not in shares:
        return seconds / PROBE_INTERVAL_S
    sends = sum(sends_between(load.rate, s, e) for s, e in spans)
    argument = kpi.argument
    if kpi.entry.argument == "edge":  # amplification(EDGE[, NAME]): rests on the SUT requests
        argument = edge_argument(kpi.argument)[1] or "*"
    share = sum(v for name, v in shares.items() if matches(kpi.entry, argument, name))
    planned = sends * share
    if matches(kpi.entry, argument, WS_SEND):  # WebSocket sends: their own rate
        planned += load.websocket_rps * seconds
    return planned


def problems(scenario: object, source: str, root: yaml.Node | None) -> list[str]:
    """file:line lines for each KPI planned below FACTOR x its floor, and each count/rps
    over a window shorter than the MIN_COUNT_WINDOW_S its verdict needs."""
    from scenarios.loader import kpi_line
    from scenarios.schema import Scenario

    assert isinstance(scenario, Scenario)
    out = [
        f"{source}:{kpi_line(root, p.index)}: kpis.{p.index}: {p.expression}: planned"
        f" {p.planned:.0f} samples, a verdict needs {p.needed} (the plan must give"
        f" {FACTOR:g}x: {FACTOR * p.needed:.0f}); raise the rate or lengthen the window"
        + (f" [{p.note}]" if p.note else "")
        for p in plan(scenario)
        if p.short
    ]
    phases = [(p.name, p.kind, p.start_s, p.end_s) for p in scenario.phases()]
    for index, spec in enumerate(scenario.kpis):
        kpi = spec.kpi
        if kpi.function in ("count", "rps"):
            seconds = sum(e - s for s, e in _spans(kpi, phases, scenario.duration_s))
            if seconds < MIN_COUNT_WINDOW_S:
                out.append(
                    f"{source}:{kpi_line(root, index)}: kpis.{index}: {spec.expression}: a"
                    f" window of {seconds:g} s; {kpi.function} needs at least"
                    f" {MIN_COUNT_WINDOW_S:g} s"
                )
    return out
