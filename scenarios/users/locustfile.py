"""The user's own Locust class (`load.users: [path/to/locustfile.py:ClassName]`), read statically.

The harness never imports a locustfile (importing Locust monkey-patches the process; the
user's module-level code runs only in the load worker). It reads the source instead: the
class must exist and derive from HttpUser or FastHttpUser (directly or through classes of the
same file), and its request names are its `request_names = (...)` if it declares them, else
the literal `name="..."` of each `self.client.<method>(...)` call, or its literal URL.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from chaosgate.errors import InputError
from chaosgate.inputfile import read_input_text

LOCUST_BASES = ("HttpUser", "FastHttpUser")
CLIENT_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "request", "rest"}


class LocustfileError(ValueError):
    """The locustfile or class is not usable; the message names file:line."""


def split_entry(entry: str) -> tuple[str, str] | None:
    """`path/to/file.py:Class` -> (path, Class); None when the entry is not of that form."""
    path, colon, name = entry.rpartition(":")
    if not colon or not path.endswith(".py"):
        return None
    return path, name


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _string(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _declared_names(path: Path, cls: ast.ClassDef) -> tuple[str, ...] | None:
    for statement in cls.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(statement, ast.AnnAssign):
            target, value = statement.target, statement.value
        elif isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        if isinstance(target, ast.Name) and target.id == "request_names" and value is not None:
            return _names_literal(path, statement.lineno, value)
    return None


def _names_literal(path: Path, line: int, value: ast.expr) -> tuple[str, ...] | None:
    """`request_names = ("a", "b")`: a literal list or tuple of strings; not a literal (computed
    at import) is None (names come from the client calls); any other literal is an error."""
    try:
        names = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return None
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise LocustfileError(
            f"{path}:{line}: request_names: expected a list or tuple of strings,"
            f" got {type(names).__name__}"
        )
    return tuple(names)


def _client_call_names(cls: ast.ClassDef) -> list[str]:
    names: list[str] = []
    for node in ast.walk(cls):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value  # self.client.<method>
        if not (
            node.func.attr in CLIENT_METHODS
            and isinstance(owner, ast.Attribute)
            and owner.attr == "client"
        ):
            continue
        named = next((_string(k.value) for k in node.keywords if k.arg == "name"), None)
        url_at = 1 if node.func.attr in ("request", "rest") else 0
        url = _string(node.args[url_at]) if len(node.args) > url_at else None
        if url is None:
            url = next((_string(k.value) for k in node.keywords if k.arg in ("url", "path")), None)
        if named or url:
            names.append(named or url or "")
    return names


def _has_tasks(cls: ast.ClassDef) -> bool:
    for statement in cls.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in statement.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if _base_name(target) == "task":
                    return True
        if isinstance(statement, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "tasks" for t in statement.targets
        ):
            return True
    return False


@functools.cache
def _read(path: Path, mtime_ns: int) -> dict[str, ast.ClassDef]:
    try:  # a regular file, size-limited, UTF-8 (a FIFO or /dev/zero: an error, not a hang)
        source = read_input_text(path, "locustfile")
    except InputError as error:
        raise LocustfileError(str(error)) from None
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as error:
        raise LocustfileError(
            f"{path}:{error.lineno or 1}: not valid Python: {error.msg}"
        ) from None
    except (RecursionError, MemoryError, ValueError):  # a 200,000-term expression; NUL bytes
        raise LocustfileError(
            f"{path}:1: not a locustfile the harness can read (an expression nested too deep,"
            " or NUL bytes)"
        ) from None
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def inspect_class(path: Path, class_name: str) -> tuple[str, ...]:
    """Check that `class_name` in `path` is a Locust HTTP user with tasks; its request names."""
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise LocustfileError(
            f"{path}: locustfile not found (expected path/to/locustfile.py:ClassName, "
            "relative to the scenario file)"
        ) from None
    except OSError as error:  # a symlink loop, a path through a file
        raise LocustfileError(f"{path}: cannot read the locustfile: {error.strerror}") from None
    if not path.is_file():
        raise LocustfileError(f"{path}: not a file (expected a locustfile .py)")
    classes = _read(path, mtime)
    cls = classes.get(class_name)
    if cls is None:
        known = ", ".join(classes) or "none"
        raise LocustfileError(f"{path}: no class {class_name!r} at top level (classes: {known})")
    lineage: list[ast.ClassDef] = [cls]
    seen: list[str] = []  # the class, then its bases in this file (ordered: stable names)
    names: tuple[str, ...] | None = None
    tasks = False
    is_user = False
    while lineage:
        current = lineage.pop()
        if current.name in seen:
            continue
        seen.append(current.name)
        names = names if names is not None else _declared_names(path, current)
        tasks = tasks or _has_tasks(current)
        for base in current.bases:
            base_name = _base_name(base)
            if base_name in LOCUST_BASES:
                is_user = True
            elif base_name in classes:
                lineage.append(classes[base_name])
    if not is_user:
        raise LocustfileError(
            f"{path}:{cls.lineno}: class {class_name} is not a Locust user "
            f"(expected a subclass of {' or '.join(LOCUST_BASES)} with @task methods)"
        )
    if not tasks:
        raise LocustfileError(
            f"{path}:{cls.lineno}: class {class_name} has no tasks (expected @task methods)"
        )
    if names is None:
        names = tuple(dict.fromkeys(n for c in seen for n in _client_call_names(classes[c])))
    return names
