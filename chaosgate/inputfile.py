"""Read an input file the user named: a regular file, size-limited, UTF-8 (else the byte offset).

A FIFO with no writer would block `open()`; `/dev/zero` would fill memory; Latin-1 bytes would
escape as a `UnicodeDecodeError` traceback. Each is an `InputError` (exit 2) naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from chaosgate.errors import InputError

MAX_INPUT_BYTES = 4 << 20  # scenario, target and config files are KB; results a few MB at most


def read_input_text(
    path: Path,
    what: str,
    error: type[InputError] = InputError,
    limit: int = MAX_INPUT_BYTES,
) -> str:
    """The text of `path`; `error(...)` naming it and `what` it is otherwise."""
    try:  # O_NONBLOCK: opening a FIFO with no writer returns at once instead of blocking
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as cause:
        raise error(f"{path}: cannot read the {what}: {cause.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise error(f"{path}: the {what} is not a regular file (a FIFO, device or directory)")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise error(f"{path}: the {what} is larger than {limit} bytes")
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
    `error` at its line. The one YAML reader of scenarios, request mixes, targets and signals."""
    text = read_input_text(path, what, error)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as problem:
        mark = problem.problem_mark or problem.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise error(f"{path}:{line}: not valid YAML: {problem.problem or problem}") from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as problem:
        raise error(f"{path}:1: not valid YAML: {problem}") from None
    return data, root
