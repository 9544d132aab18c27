"""reports/result.schema.json is RunResult's JSON Schema, published; it must never drift."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reports.model import RunResult

pytestmark = pytest.mark.unit

SCHEMA = Path(__file__).resolve().parents[2] / "reports" / "result.schema.json"
REGENERATE = (
    "python -c 'import json; from reports.model import RunResult; "
    "print(json.dumps(RunResult.model_json_schema(), indent=2))' > reports/result.schema.json"
)


def test_published_schema_is_up_to_date() -> None:
    published = json.loads(SCHEMA.read_text())
    assert published == RunResult.model_json_schema(), f"schema drifted; regenerate: {REGENERATE}"


def test_schema_accepts_a_result_and_rejects_a_wrong_one() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    result = {
        "run": {
            "run_id": "r1", "started_at": 1.0, "ended_at": 2.0, "chaosgate_version": "0.1.0",
            "machine": {"hostname": "h", "platform": "linux", "python": "3.11", "cpus": 2, "memory_gb": 4.0},
        },
        "status": "pass",
        "exit_code": 0,
    }  # fmt: skip
    jsonschema.validate(result, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(result | {"exit_code": 7}, schema)
