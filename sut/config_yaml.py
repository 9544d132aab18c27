"""The SUT config file's YAML, read strictly: no duplicate keys (the second is refused at its
line; PyYAML would keep the last silently), bounded nesting, expanded size (no alias bomb) and
value lengths. The SUT never imports harness code, so this is its own small copy of the rules of
`chaosgate.inputfile`.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import yaml

MAX_DEPTH = 32  # the config nests 4 levels
MAX_VALUES = 10_000  # values after expanding aliases (the config has ~150)
MAX_STRING = 4096  # characters in one value (a URL, a password)
MAX_INT_DIGITS = 32
_MERGE = "tag:yaml.org,2002:merge"


class ConfigYamlError(Exception):
    """`file:line: what is wrong`."""


def parse_config_yaml(text: str, path: Path) -> tuple[Any, yaml.Node | None]:
    """The data and node tree of `text`; ConfigYamlError naming path:line otherwise."""
    brackets = re.sub(r"[^\[\]{}]+", "", text)  # PyYAML scans deep [[[... in quadratic time
    if (
        max(itertools.accumulate(1 if c in "[{" else -1 for c in brackets), default=0)
        > 2 * MAX_DEPTH
    ):
        raise ConfigYamlError(f"{path}:1: nested deeper than {MAX_DEPTH} levels")
    if text.count(",") + text.count("\n") > MAX_VALUES:
        raise ConfigYamlError(f"{path}:1: more than {MAX_VALUES} values; not a SUT config")
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigYamlError(f"{where}: not valid YAML ({error.problem or error})") from None
    except RecursionError:
        raise ConfigYamlError(f"{path}:1: nested deeper than {MAX_DEPTH} levels") from None
    except (yaml.YAMLError, ValueError, TypeError) as error:
        raise ConfigYamlError(f"{path}:1: not valid YAML ({error})") from None
    if root is None:
        return None, None
    _check(root, path)
    try:
        return yaml.SafeLoader("").construct_document(root), root
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as error:
        raise ConfigYamlError(f"{path}:1: not valid YAML ({error})") from None


def _kids(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _check(root: yaml.Node, path: Path) -> None:
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, height)
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, after = stack.pop()
        line = node.start_mark.line + 1
        if after:
            kids = [done[id(k)] for k in _kids(node)]
            size, height = 1 + sum(k[0] for k in kids), 1 + max((k[1] for k in kids), default=0)
            if height > MAX_DEPTH:
                raise ConfigYamlError(f"{path}:{line}: nested deeper than {MAX_DEPTH} levels")
            if size > MAX_VALUES:
                raise ConfigYamlError(
                    f"{path}:{line}: expands to more than {MAX_VALUES} values (an alias bomb?)"
                )
            done[id(node)] = (size, height)
            open_.discard(id(node))
            continue
        if id(node) in done:
            continue
        if id(node) in open_:
            raise ConfigYamlError(f"{path}:{line}: an alias that refers to itself")
        open_.add(id(node))
        _check_one(node, path, line)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _kids(node) if id(kid) not in done)


def _check_one(node: yaml.Node, path: Path, line: int) -> None:
    if isinstance(node, yaml.ScalarNode):
        if len(node.value) > MAX_STRING:
            raise ConfigYamlError(f"{path}:{line}: a value longer than {MAX_STRING} characters")
        digits = sum(ch.isdigit() for ch in node.value)
        if node.tag.endswith(":int") and digits > MAX_INT_DIGITS:
            raise ConfigYamlError(f"{path}:{line}: an integer of more than {MAX_INT_DIGITS} digits")
    elif isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
                continue
            at = key.start_mark.line + 1
            if (key.tag, key.value) in seen:
                raise ConfigYamlError(
                    f"{path}:{at}: duplicate key {key.value!r} (first at line"
                    f" {seen[(key.tag, key.value)]}); each key may appear once"
                )
            seen[(key.tag, key.value)] = at
