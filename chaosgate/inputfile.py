"""The one reader of every input file the user names: scenario, target, request mix, locustfile,
harness settings, result files. Each way a file can be wrong is an `InputError` (exit 2) naming it.

Text: a regular file (a FIFO would block `open()`, `/dev/zero` fill memory: checked with
`os.stat` before opening), size-limited, UTF-8 (else the byte offset).
YAML and JSON: no duplicate keys (refused at the second one's line), bounded nesting, strings and
integer digits, and no alias bomb (a billion-laughs document expands to 10^9 values later).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from chaosgate.errors import InputError

MAX_INPUT_BYTES = 4 << 20  # scenario, target and config files are KB; results a few MB at most
MAX_DEPTH = 64  # nesting levels; real inputs use < 10
MAX_VALUES = (
    50_000  # values, YAML aliases expanded (a billion-laughs bomb: 10^9; a scenario: <1,000)
)
MAX_STRING = 65_536  # characters in one string (a request body fits; a runaway paste does not)
MAX_INT_DIGITS = 64  # digits in one integer (no real count, port or seed needs more)
_INT_TAG = "tag:yaml.org,2002:int"
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # LibYAML's scanner: ~10x faster


def _stat_regular(path: Path, what: str, error: type[InputError]) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such {what} (file not found)") from None
    except OSError as cause:  # a symlink loop (ELOOP), a path through a file (ENOTDIR), ...
        raise error(f"{path}: cannot read the {what}: {cause.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO, socket or device"
        raise error(f"{path}: the {what} is {kind}, not a regular file")


def read_input_bytes(
    path: Path, what: str, error: type[InputError] = InputError, limit: int = MAX_INPUT_BYTES
) -> bytes:
    """The bytes of `path` (a regular file of at most `limit` bytes), or `error` naming it."""
    _stat_regular(path, what, error)
    try:  # O_NONBLOCK: a FIFO swapped in after the stat still cannot block the open
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as cause:
        raise error(f"{path}: cannot read the {what}: {cause.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise error(f"{path}: the {what} is not a regular file (a FIFO, device or directory)")
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as cause:
        raise error(f"{path}: cannot read the {what}: {cause.strerror}") from None
    if len(data) > limit:
        raise error(f"{path}: the {what} is larger than {limit} bytes")
    return data


def read_input_text(
    path: Path,
    what: str,
    error: type[InputError] = InputError,
    limit: int = MAX_INPUT_BYTES,
) -> str:
    """The text of `path`; `error(...)` naming it and `what` it is otherwise."""
    data = read_input_bytes(path, what, error, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as cause:
        line = data.count(b"\n", 0, cause.start) + 1
        raise error(
            f"{path}:{line}: the {what} is not UTF-8 text (byte 0x{data[cause.start]:02x} at"
            f" offset {cause.start}); save it as UTF-8"
        ) from None


def read_yaml(
    path: Path, what: str, error: type[InputError] = InputError
) -> tuple[Any, yaml.Node | None]:
    """An input YAML file's data and its node tree (for file:line errors later); bad YAML is
    `error` at its line. The one YAML reader of scenarios, request mixes, targets and settings."""
    return parse_yaml(read_input_text(path, what, error), path, what, error)


def parse_yaml(
    text: str, source: Path | str, what: str, error: type[InputError] = InputError
) -> tuple[Any, yaml.Node | None]:
    """`text` (read from `source`) as YAML data and node tree, within the limits above."""
    if _flow_depth(text) > 2 * MAX_DEPTH:  # PyYAML scans deep [[[... in quadratic time
        raise error(f"{source}:1: the {what} nests deeper than {MAX_DEPTH} levels")
    if text.count(",") + text.count("\n") > MAX_VALUES:  # parsing 300,000 items takes a minute
        raise error(f"{source}:1: the {what} has more than {MAX_VALUES} values")
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as problem:
        mark = problem.problem_mark or problem.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise error(f"{source}:{line}: not valid YAML: {problem.problem or problem}") from None
    except RecursionError:
        raise error(f"{source}:1: the {what} nests deeper than {MAX_DEPTH} levels") from None
    except (yaml.YAMLError, ValueError, TypeError) as problem:
        raise error(f"{source}:1: not valid YAML: {problem}") from None
    if root is None:
        return None, None
    _check_tree(root, source, what, error)
    try:  # construct from the checked tree: one parse, and what was checked is what is used
        data = yaml.SafeLoader("").construct_document(root)
    except yaml.MarkedYAMLError as problem:
        mark = problem.problem_mark or problem.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise error(f"{source}:{line}: not valid YAML: {problem.problem or problem}") from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as problem:
        raise error(f"{source}:1: not valid YAML: {problem}") from None
    return data, root


def _flow_depth(text: str) -> int:
    """The deepest `[`/`{` nesting of `text`, brackets inside strings counted too (hence the
    margin above): a cheap guard before the parser, which scans deep flow nesting slowly."""
    brackets = _NOT_BRACKET.sub("", text)
    return max(itertools.accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_tree(root: yaml.Node, source: Path | str, what: str, error: type[InputError]) -> None:
    """Depth, expanded size (aliases counted each time used), duplicate keys, scalar sizes.
    Iterative and memoised per node: an alias bomb is measured without being expanded."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values when expanded, height)
    in_progress: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            kids = [sizes[id(child)] for child in _children(node)]
            size = 1 + sum(count for count, _ in kids)
            height = 1 + max((h for _, h in kids), default=0)
            line = node.start_mark.line + 1
            if height > MAX_DEPTH:
                raise error(f"{source}:{line}: the {what} nests deeper than {MAX_DEPTH} levels")
            if size > MAX_VALUES:
                raise error(
                    f"{source}:{line}: the {what} expands to more than {MAX_VALUES} values"
                    " (with its YAML aliases repeated)"
                )
            sizes[key] = (size, height)
            in_progress.discard(key)
            continue
        if key in sizes:
            continue
        if key in in_progress:
            line = node.start_mark.line + 1
            raise error(f"{source}:{line}: the {what} has an alias that refers to itself")
        in_progress.add(key)
        _check_node(node, source, what, error)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _check_node(node: yaml.Node, source: Path | str, what: str, error: type[InputError]) -> None:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        if len(node.value) > MAX_STRING:
            raise error(f"{source}:{line}: a value longer than {MAX_STRING} characters")
        digits = sum(ch.isdigit() for ch in node.value)
        if node.tag == _INT_TAG and digits > MAX_INT_DIGITS:
            raise error(f"{source}:{line}: an integer of more than {MAX_INT_DIGITS} digits")
    elif isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if (
                not isinstance(key_node, yaml.ScalarNode)
                or key_node.tag == "tag:yaml.org,2002:merge"
            ):
                continue
            ident = (key_node.tag, key_node.value)
            key_line = key_node.start_mark.line + 1
            if ident in seen:
                raise error(
                    f"{source}:{key_line}: duplicate key {key_node.value!r} (first at line"
                    f" {seen[ident]}); each key may appear once"
                )
            seen[ident] = key_line


# JSON (result files)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(key)
        document[key] = value
    return document


class _NonFinite(ValueError):
    def __init__(self, constant: str) -> None:
        super().__init__(constant)
        self.constant = constant


def _refuse_constant(constant: str) -> Any:
    """NaN and +-Infinity are not JSON: a result holding one measured nothing it can judge."""
    raise _NonFinite(constant)


def _constant_line(text: str, constant: str) -> int:
    found = re.search(rf"[:\[,]\s*{re.escape(constant)}\b", text)
    return text.count("\n", 0, found.start()) + 1 if found else 1


def _bounded_int(digits: str) -> int:
    if len(digits) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(digits)


def parse_json(text: str, source: Path | str, what: str, error: type[InputError]) -> Any:
    """`text` as JSON within the limits above; raises `json.JSONDecodeError` for plain syntax
    errors (the caller words those) and `error` naming the source for everything else."""
    try:
        document = json.loads(text, object_pairs_hook=_unique_pairs, parse_int=_bounded_int,
                              parse_constant=_refuse_constant)  # fmt: skip
    except json.JSONDecodeError:
        raise
    except _NonFinite as bad:
        raise error(
            f"{source}:{_constant_line(text, bad.constant)}: {bad.constant} in the {what};"
            " expected a finite number (NaN and Infinity are not JSON)"
        ) from None
    except _DuplicateKey as duplicate:
        line = _duplicate_line(text, duplicate.key)
        raise error(
            f"{source}:{line}: duplicate key {duplicate.key!r} in the {what}; each key may"
            " appear once per object"
        ) from None
    except RecursionError:
        raise error(f"{source}:1: the {what} nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as problem:
        raise error(f"{source}: the {what} is not valid: {problem}") from None
    if _json_height(document) > MAX_DEPTH:
        raise error(f"{source}:1: the {what} nests deeper than {MAX_DEPTH} levels")
    return document


def _json_height(document: Any) -> int:
    height = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        height = max(height, depth)
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)
    return height


def _duplicate_line(text: str, key: str) -> int:
    """The line of the first repeated `key` in one object (found again, only on the error path,
    with the pure-Python scanner, whose object parser tells where each object starts)."""
    found: list[int] = []

    def parse_object(s_and_end: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        s, start = s_and_end
        try:
            return json.decoder.JSONObject(s_and_end, *args, **kwargs)  # type: ignore[attr-defined]
        except _DuplicateKey as duplicate:
            if not found:
                found.append(_key_offset(s, start, duplicate.key))
            raise

    decoder = json.JSONDecoder(object_pairs_hook=_unique_pairs)
    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    with contextlib.suppress(ValueError, RecursionError):
        decoder.decode(text)
    return text.count("\n", 0, found[0]) + 1 if found else 1


def _key_offset(text: str, start: int, key: str) -> int:
    """Offset of the second `key` among the top-level keys of the object whose body starts at
    `start` (just after its `{`)."""
    decoder = json.JSONDecoder()
    seen: set[str] = set()
    pos = start
    while True:
        while text[pos] in " \t\r\n,":
            pos += 1
        if text[pos] != '"':
            return start
        at = pos
        name, pos = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
        if name == key and name in seen:
            return at
        seen.add(name)
        while text[pos] in " \t\r\n:":
            pos += 1
        _, pos = decoder.raw_decode(text, pos)
