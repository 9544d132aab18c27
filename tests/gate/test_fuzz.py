"""Property: a broken scenario file always exits 2 with a message naming the file, never a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaosgate.cli import main

from .test_schema import GOOD

pytestmark = pytest.mark.unit

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = [
    "name",
    "load",
    "users",
    "rate",
    "faults",
    "kpis",
    "at_s",
    "for_s",
    "target",
    "fault",
    "attributes",
    "hold_s",
    "seed",
    "tags",
]


def run_check(text: str | bytes, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "broken.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        try:
            main(["run", str(path), "--check"])
            code: object = 0
        except SystemExit as exited:
            code = exited.code
    out = capsys.readouterr()
    return (code if isinstance(code, int) else 1), out.out + out.err


def assert_clean_exit(code: int, output: str) -> None:
    assert "Traceback" not in output
    assert code in (0, 2), output
    if code == 2:
        assert "broken.yaml" in output, output


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(start=st.integers(0, len(GOOD)), length=st.integers(1, 40), insert=st.text(max_size=20))
def test_text_mutations(
    capsys: pytest.CaptureFixture[str], start: int, length: int, insert: str
) -> None:
    broken = GOOD[:start] + insert + GOOD[start + length :]
    assert_clean_exit(*run_check(broken, capsys))


@FUZZ
@given(key=st.sampled_from(KEYS), value=documents)
def test_a_field_replaced_by_random_data(
    capsys: pytest.CaptureFixture[str], key: str, value: object
) -> None:
    data = yaml.safe_load(GOOD)

    def replace(node: object) -> None:
        if isinstance(node, dict):
            for k in list(node):
                if k == key:
                    node[k] = value
                else:
                    replace(node[k])
        elif isinstance(node, list):
            for item in node:
                replace(item)

    replace(data)
    assert_clean_exit(*run_check(yaml.safe_dump(data), capsys))


@FUZZ
@given(document=documents)
def test_random_documents_are_rejected(
    capsys: pytest.CaptureFixture[str], document: object
) -> None:
    code, output = run_check(yaml.safe_dump(document), capsys)
    assert_clean_exit(code, output)
    assert code == 2


@FUZZ
@given(raw=st.binary(max_size=200))
def test_random_bytes_are_rejected(capsys: pytest.CaptureFixture[str], raw: bytes) -> None:
    code, output = run_check(raw, capsys)
    assert_clean_exit(code, output)
    assert code == 2
