"""Bad result files: every one exits 2 with a message naming the file and the problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chaosgate.errors import ResultFileError
from reports.load import load_result, parse_result
from reports.model import SCHEMA_VERSION

pytestmark = pytest.mark.unit


def test_every_recorded_result_loads(any_result: tuple[str, object]) -> None:
    kind, result = any_result
    expected = kind if kind in ("pass", "fail", "invalid") else result.status  # type: ignore[attr-defined]
    assert result.status == expected  # type: ignore[attr-defined]


def _bad(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "result.json"
    path.write_text(text, encoding="utf-8")
    return path


def _document(result_path: Callable[[str], Path]) -> dict[str, object]:
    return json.loads(result_path("pass").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("make_text", "expected"),
    [
        (lambda text: "this is not json {", r"not a JSON result file"),
        (lambda text: text[: len(text) // 2], r"truncated"),
        (lambda text: "", r"empty"),
        (lambda text: "[1, 2]", r"expected a JSON object .* got a JSON list"),
        (
            lambda text: text.replace(SCHEMA_VERSION, "chaosgate.result/1", 1),
            r"'chaosgate.result/1'.*reads 'chaosgate.result/2'",
        ),
    ],
    ids=["not-json", "truncated", "empty", "not-an-object", "other-version"],
)
def test_unreadable_result_exits_2_with_a_clear_message(
    tmp_path: Path,
    result_path: Callable[[str], Path],
    run_cli: Callable[..., Any],
    make_text: Callable[[str], str],
    expected: str,
) -> None:
    path = _bad(tmp_path, make_text(result_path("pass").read_text()))
    outcome = run_cli("report", path, "--format", "json")
    assert outcome.code == 2
    assert str(path) in outcome.err
    assert "Traceback" not in outcome.err
    with pytest.raises(ResultFileError, match=expected):
        load_result(path)


def test_schema_mismatch_names_the_field(
    tmp_path: Path, result_path: Callable[[str], Path], run_cli: Callable[..., Any]
) -> None:
    document = _document(result_path)
    document["scenarios"][1]["kpis"][0]["measured"] = "fast"  # type: ignore[index]
    path = _bad(tmp_path, json.dumps(document))
    outcome = run_cli("report", path, "--format", "markdown")
    assert outcome.code == 2
    assert "scenarios[1].kpis[0].measured" in outcome.err


def test_missing_field_and_unknown_field_are_both_named(result_path: Callable[[str], Path]) -> None:
    document = _document(result_path)
    del document["run"]["machine"]  # type: ignore[attr-defined]
    document["surprise"] = 1
    with pytest.raises(ResultFileError) as raised:
        parse_result(json.dumps(document), source="x.json")
    assert "run.machine: Field required" in str(raised.value)
    assert "surprise: Extra inputs are not permitted" in str(raised.value)


def test_missing_file_exits_2(tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    outcome = run_cli("report", tmp_path / "nope.json")
    assert outcome.code == 2
    assert "not found" in outcome.err


def test_truncated_message_points_at_line_and_column(result_path: Callable[[str], Path]) -> None:
    text = result_path("pass").read_text()[:500]
    with pytest.raises(ResultFileError, match=r"^r\.json:\d+:\d+: result file is truncated"):
        parse_result(text, source="r.json")


def test_recorded_results_match_the_published_json_schema(any_result: tuple[str, object]) -> None:
    # The fixtures stand in for what the gate writes: hold them to the same published schema.
    import jsonschema

    kind, _ = any_result
    schema = json.loads((Path(__file__).parents[2] / "reports" / "result.schema.json").read_text())
    document = json.loads((Path(__file__).parent / f"result_{kind}.json").read_text())
    jsonschema.validate(document, schema)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_refused_at_its_line(
    result_path: Callable[[str], Path], constant: str
) -> None:
    """Python's json reads NaN and Infinity (not JSON): a KPI measured as NaN compared false
    against every threshold and rendered as "nan". Fails on the old code: the file loaded."""
    document = _document(result_path)
    document["scenarios"][0]["kpis"][0]["measured"] = 1.5  # type: ignore[index]
    text = json.dumps(document, indent=2).replace('"measured": 1.5', f'"measured": {constant}', 1)
    line = text[: text.index(f'"measured": {constant}')].count("\n") + 1
    with pytest.raises(ResultFileError, match=rf"^r\.json:{line}: {constant} in the result file"):
        parse_result(text, source="r.json")
