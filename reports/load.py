"""Read a result file into a `RunResult`, or say exactly why it cannot be read (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chaosgate.errors import ResultFileError
from chaosgate.inputfile import parse_json, read_input_text
from reports.model import SCHEMA_VERSION, RunResult

MAX_RESULT_BYTES = 64 << 20  # a long run's result with its histograms is a few MB
_HINT = "re-render from a result written by this chaosgate version, or re-run the scenario"


def load_result(path: Path | str) -> RunResult:
    """The run stored in `path`; every way it can be unreadable is one `ResultFileError`."""
    path = Path(path)
    # a regular file (a FIFO is an error, not a hang), size-limited, UTF-8 with the byte offset
    text = read_input_text(path, "result file", ResultFileError, limit=MAX_RESULT_BYTES)
    return parse_result(text, source=str(path))


def parse_result(text: str, *, source: str = "<result>") -> RunResult:
    document = _parse_json(text, source)
    if not isinstance(document, dict):
        raise ResultFileError(
            f"{source}: expected a JSON object with schema_version {SCHEMA_VERSION!r}, "
            f"got a JSON {type(document).__name__}"
        )
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        found = "no schema_version" if version is None else f"schema_version {version!r}"
        raise ResultFileError(
            f"{source}: {found}; this chaosgate reads {SCHEMA_VERSION!r}", hint=_HINT
        )
    try:
        result = RunResult.model_validate(document)
    except ValidationError as error:
        raise ResultFileError(_describe(error, source), hint=_HINT) from None
    _check_histograms(result, source)
    return result


def _check_histograms(result: RunResult, source: str) -> None:
    """Every HDR histogram decodes: a damaged one failed the renderers later (exit 4). Decoding
    all of a release gate's ~1,000 takes ~60 ms."""
    from reports import hdr

    for i, scenario in enumerate(result.scenarios):
        found = [
            (f"series[{j}].{name}", getattr(bucket, name))
            for j, bucket in enumerate(scenario.series)
            for name in ("histogram", "error_histogram")
        ]
        if scenario.websocket is not None:
            found.append(("websocket.latency_histogram", scenario.websocket.latency_histogram))
        for where, encoded in found:
            if not encoded:
                continue
            try:
                hdr.decode(encoded)
            except Exception:
                raise ResultFileError(
                    f"{source}: scenarios[{i}].{where}: not an HDR histogram (damaged?)",
                    hint=_HINT,
                ) from None


def _parse_json(text: str, source: str) -> Any:
    if not text.strip():
        raise ResultFileError(f"{source}: result file is empty")
    try:
        # no duplicate keys, bounded nesting and integers: else ResultFileError naming the line
        return parse_json(text, source, "result file", ResultFileError)
    except json.JSONDecodeError as error:
        # A document that opens like JSON but never closes, or that the decoder ran off the
        # end of, is a writer that stopped midway (killed run, full disk), not a wrong file.
        body = text.strip()
        unclosed = body[:1] in "{[" and body[-1:] not in "}]"
        if unclosed or error.pos >= len(text.rstrip()):
            raise ResultFileError(
                f"{source}:{error.lineno}:{error.colno}: result file is truncated "
                f"(JSON ends early: {error.msg})",
                hint="the run may have been killed while writing; re-run it",
            ) from None
        raise ResultFileError(
            f"{source}:{error.lineno}:{error.colno}: not a JSON result file: {error.msg}"
        ) from None


def _describe(error: ValidationError, source: str) -> str:
    problems = error.errors()
    lines = [f"{source}: result does not match schema {SCHEMA_VERSION!r}:"]
    for problem in problems[:5]:
        lines.append(f"  {_field_path(problem['loc'])}: {problem['msg']}")
    if len(problems) > 5:
        lines.append(f"  … and {len(problems) - 5} more")
    return "\n".join(lines)


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"
