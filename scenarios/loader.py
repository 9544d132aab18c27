"""Load scenario YAML files: parse, validate WHOLE, and report every problem as file:line.

PyYAML's composed node tree keeps a mark (line) for every value; pydantic reports where a
problem is as a location path. Walking that path through the node tree maps each error to the
line to fix. Nothing here lets an exception other than `ScenarioError` out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from chaosgate.errors import ScenarioError
from chaosgate.inputfile import read_yaml
from fixtures.target import ExternalTarget, load_target, parse_target
from scenarios.kpi_lint import warn_unguarded
from scenarios.schema import LocatedValueError, Scenario

SHIPPED_DIR = Path(__file__).parent
SUITES_GLOB = "release/*.yaml"


def _node_at(node: yaml.Node | None, path: tuple[int | str, ...]) -> yaml.Node | None:
    """The deepest node along `path` (mapping keys, sequence indexes)."""
    for part in path:
        if isinstance(node, yaml.MappingNode):
            child = next(
                (
                    v
                    for k, v in node.value
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part)
                ),
                None,
            )
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
        else:
            child = None
        if child is None:
            return node
        node = child
    return node


def _line(root: yaml.Node | None, path: tuple[int | str, ...]) -> int:
    node = _node_at(root, path)
    return node.start_mark.line + 1 if node is not None else 1


def describe(error: ValidationError, source: str, root: yaml.Node | None) -> str:
    lines = []
    for item in error.errors():
        path = tuple(p for p in item["loc"] if isinstance(p, int | str))
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, LocatedValueError):  # a whole-scenario check that names its field
            path = (*path, *cause.path)
        key = ".".join(str(p) for p in path) or "(top level)"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "required field missing"
        elif item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see scenarios/scenario.schema.json)"
        lines.append(f"{source}:{_line(root, path)}: {key}: {message}")
    return "\n".join(lines)


def _locate_load_errors(message: str, source: str, root: yaml.Node | None) -> str:
    lines = []
    for line in message.splitlines():
        key, _, rest = line.removeprefix("load plan: ").partition(": ")
        parts = [int(p) if p.isdigit() else p for p in key.split(".") if p and p != "(root)"]
        path: tuple[int | str, ...] = ("load", *parts)
        lines.append(f"{source}:{_line(root, path)}: {'.'.join(map(str, path))}: {rest}")
    return "\n".join(lines)


def scenario_from_data(
    data: Any,
    source: str = "<scenario>",
    root: yaml.Node | None = None,
    base_dir: Path | None = None,
    target: ExternalTarget | None = None,
) -> Scenario:
    """Validate already-parsed data (the Python API uses `Scenario(...)` directly). Paths in
    it (load.users files) are relative to `base_dir`, the scenario file's folder. `target`:
    the scenario's `target:` already loaded (else the model loads it)."""
    if not isinstance(data, dict):
        raise ScenarioError(
            "expected a mapping with name, load, kpis... at the top level", location=f"{source}:1"
        )
    try:
        return Scenario.model_validate(data, context={"base_dir": base_dir, "target": target})
    except ValidationError as error:
        raise ScenarioError(describe(error, source, root)) from None
    except ScenarioError as error:  # LoadPlan validates itself and says "load plan: <key>: ..."
        raise ScenarioError(_locate_load_errors(error.message, source, root)) from None
    except (TypeError, ValueError, RecursionError) as error:  # a validator choking on odd input
        raise ScenarioError(f"{source}:1: {error}") from None


def kpi_line(root: yaml.Node | None, index: int) -> int:
    """The line of `kpis[index]` in a scenario file."""
    return _line(root, ("kpis", index))


def check_planned(path: Path, scenario: Scenario) -> list[str]:
    """`--check`: the KPIs planned below twice their evidence floor (scenarios.planned_n)."""
    from scenarios.planned_n import problems

    _data, root = read_yaml(path, "scenario file", ScenarioError)
    return problems(scenario, str(path), root)


def load_scenario(path: Path) -> Scenario:
    source = str(path)
    # A regular file, size-limited, UTF-8: /dev/zero and a FIFO are exit 2, not a hang or MemoryError.
    data, root = read_yaml(path, "scenario file", ScenarioError)
    target = None
    if isinstance(data, dict) and data.get("target") is not None:
        data["target"], target = _target(path, root, data["target"])
    scenario = scenario_from_data(data, source, root, path.parent, target)
    warn_unguarded(  # stderr only: a percentile without an error rate beside it
        [spec.kpi for spec in scenario.kpis],
        lambda index: f"{source}:{_line(root, ('kpis', index))}",
        scenario.probe_series() - scenario.request_names(),
    )
    return scenario


def _target(
    path: Path, root: yaml.Node | None, given: Any
) -> tuple[str | dict[str, Any], ExternalTarget]:
    """The scenario's `target:` loaded: a file (relative to the scenario file; stored absolute,
    so the validated scenario runs from anywhere) or an inline mapping (errors at its lines)."""
    node = _node_at(root, ("target",))
    where = f"{path}:{_line(root, ('target',))}"
    if isinstance(given, dict) and node is not None:
        return given, parse_target(node, path, path.parent)
    if not isinstance(given, str) or not given:
        raise ScenarioError(f"{where}: target: expected a target file (path) or a mapping")
    try:
        file = (path.parent / given).resolve()
    except (RuntimeError, OSError):  # pathlib: RuntimeError for a symlink loop
        raise ScenarioError(f"{where}: target: {given!r} is a symlink loop") from None
    if not file.is_file():
        raise ScenarioError(
            f"{where}: target: no target file {given!r} (looked for {file}, relative to the"
            " scenario file)"
        )
    return str(file), load_target(file)


def shipped_scenarios() -> dict[str, Path]:
    """name (file stem) -> path of every shipped scenario."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob(SUITES_GLOB))}


def resolve(items: list[str], suite: str | None, planned: bool = False) -> list[Scenario]:
    """Files, shipped names and/or a suite tag -> validated scenarios (ALL validated first).
    `planned` (`run --check`): also refuse KPIs planned below twice their evidence floor."""
    shipped = shipped_scenarios()
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            # both spellings: a `.yml` silently skipped is a scenario that never ran
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
            if not found:
                raise ScenarioError(f"{path}: a folder with no scenario file (*.yaml, *.yml) in it")
            paths.extend(found)
        elif path.suffix in (".yaml", ".yml") or path.exists():
            paths.append(path)
        elif item in shipped:
            paths.append(shipped[item])
        else:
            raise ScenarioError(
                f"{item}: neither a file nor a shipped scenario ({', '.join(shipped)})"
            )
    scenarios = [load_scenario(p) for p in paths]
    if suite is not None:
        tagged = [(p, load_scenario(p)) for p in shipped.values()]
        for path, scenario in tagged:
            if suite in scenario.tags and scenario.name not in {x.name for x in scenarios}:
                paths.append(path)
                scenarios.append(scenario)
        if not scenarios:
            raise ScenarioError(f"no shipped scenario is tagged {suite!r}")
    if planned:
        short = [
            line for p, s in zip(paths, scenarios, strict=True) for line in check_planned(p, s)
        ]
        if short:
            raise ScenarioError(
                "\n".join(short),
                hint="a KPI planned below 2x its evidence floor is INVALID about half the time",
            )
    if not scenarios:
        raise ScenarioError(
            "no scenarios given", hint="name files, shipped scenarios, or --suite release|smoke"
        )
    return scenarios
