"""The documentation keeps up with the code: every `chaosgate` command and every flag its
`--help` shows is written in README.md or docs/ (a flag on a page that names its command), the
pytest plugins' options and fixtures are documented, and every relative link resolves."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from chaosgate.cli import cli

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PLUGINS = (REPO / "fixtures" / "pytest_plugin.py", REPO / "scenarios" / "pytest_plugin.py")
HELP_ONLY = {"--help", "-h"}  # on every command; documented once, not per command


def pages() -> dict[Path, str]:
    found = [REPO / "README.md", *sorted((REPO / "docs").glob("**/*.md"))]
    return {page: page.read_text(encoding="utf-8") for page in found}


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """(`chaosgate a b`, command) for every command and subcommand, as `--help` lists them."""
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        if command.hidden:
            continue
        yield " ".join(("chaosgate", *path, name)), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def flags(command: click.Command) -> list[str]:
    return sorted(
        opt
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden
        for opt in (*param.opts, *param.secondary_opts)
        if opt.startswith("--") and opt not in HELP_ONLY
    )


def mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def test_every_command_is_documented() -> None:
    text = "\n".join(pages().values())
    missing = [name for name, _ in commands(cli) if not mentions(text, name)]
    assert not missing, f"commands named nowhere in README.md or docs/: {missing}"


def test_every_flag_is_documented_where_its_command_is() -> None:
    docs = pages()
    missing = []
    for name, command in commands(cli):
        where = [text for text in docs.values() if mentions(text, name)]
        missing += [
            f"{name} {flag}" for flag in flags(command) if not any(mentions(t, flag) for t in where)
        ]
    assert not missing, f"flags of `--help` on no page that names their command: {missing}"


def plugin_surface() -> tuple[list[str], list[str]]:
    """The pytest plugins' command-line options and fixture names, read from their source."""
    options: list[str] = []
    fixtures: list[str] = []
    for plugin in PLUGINS:
        for node in ast.walk(ast.parse(plugin.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "addoption":
                options += [str(a.value) for a in node.args if isinstance(a, ast.Constant)]
            if isinstance(node, ast.FunctionDef) and any(
                "pytest.fixture" in ast.unparse(d) for d in node.decorator_list
            ):
                fixtures.append(node.name)
    return options, fixtures


def test_the_pytest_plugins_are_documented() -> None:
    options, fixtures = plugin_surface()
    assert options, "the source reader found no option"
    assert fixtures, "the source reader found no fixture"
    text = "\n".join(pages().values())
    missing = [o for o in options if not mentions(text, o)]
    missing += [f for f in fixtures if f"`{f}`" not in text]
    assert not missing, f"pytest plugin options or fixtures documented nowhere: {missing}"


def test_every_kpi_function_and_fault_kind_has_its_page() -> None:
    from fixtures.faults import REGISTRY
    from reports.kpi_functions import FUNCTIONS

    scenarios = (REPO / "docs" / "scenarios.md").read_text(encoding="utf-8")
    faults = (REPO / "docs" / "faults.md").read_text(encoding="utf-8")
    missing = [f"KPI {name}" for name in sorted(FUNCTIONS) if not mentions(scenarios, name)]
    missing += [f"fault {kind}" for kind in sorted(REGISTRY) if f"`{kind}`" not in faults]
    assert not missing, (
        f"named on no page of their own (docs/scenarios.md, docs/faults.md): {missing}"
    )


def test_every_scenario_key_is_documented() -> None:
    """Each key of the scenario schema (top level, load, rate steps, faults, KPIs, stack) is
    written on the scenario or fault page, in backticks or as YAML (`key:`)."""
    schema = json.loads((REPO / "scenarios" / "scenario.schema.json").read_text(encoding="utf-8"))
    sections = [schema, *schema["$defs"].values()]
    keys = sorted({key for section in sections for key in section.get("properties", {})})
    text = "".join(
        (REPO / "docs" / page).read_text(encoding="utf-8") for page in ("scenarios.md", "faults.md")
    )
    missing = [key for key in keys if f"`{key}`" not in text and f"{key}:" not in text]
    assert not missing, f"scenario keys on neither docs/scenarios.md nor docs/faults.md: {missing}"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    plain = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return {slug(m) for m in re.findall(r"^#{1,6} +(.+?) *#*$", plain, flags=re.MULTILINE)}


def test_every_relative_link_resolves() -> None:
    broken = []
    for page, text in pages().items():
        for target in LINK.findall(CODE.sub("", text)):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            path = (page.parent / file_part).resolve() if file_part else page
            where = f"{page.relative_to(REPO)}: {target}"
            if not path.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path.read_text("utf-8")):
                broken.append(f"{where} (no such heading)")
    assert not broken, f"links that do not resolve: {broken}"


FOLDERS = (
    "chaosgate/",
    "sut/",
    "fixtures/",
    "scenarios/",
    "reports/",
    "examples/",
    "tests/",
    "docs/",
)
WRITTEN_BY_RUNS = ("reports/runs",)  # made by a run, not kept in the repository


def test_every_repository_path_named_exists() -> None:
    """A file or folder named in backticks (`fixtures/catalog.py`, `sut/config.yaml:12`) is
    there: a moved module fails this until its pages follow."""
    gone = []
    for page, text in pages().items():
        for quoted in re.findall(r"`([^`\s]+)`", text):
            path = quoted.rstrip(",.;").split(":")[0]
            if not path.startswith(FOLDERS) or re.search(r"[<*{]", path):
                continue  # a pattern (`tests/sut/test_mcp_*.py`, `<out>/<run-id>/`), not a path
            if not path.startswith(WRITTEN_BY_RUNS) and not (REPO / path).exists():
                gone.append(f"{page.relative_to(REPO)}: {quoted}")
    assert not gone, f"paths named that are not in the repository: {gone}"


def test_the_readme_is_an_entry() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 150, f"README.md has {lines} lines; the manual belongs in docs/"
