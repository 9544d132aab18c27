"""Property: any SUT config file loads or raises SutConfigError naming the file; nothing else
escapes (`python -m sut` turns SutConfigError into exit 2, anything else would be a traceback)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sut.config import SutConfigError, load_sut_settings

pytestmark = pytest.mark.unit

SHIPPED = (Path(__file__).parents[2] / "sut" / "config.yaml").read_text()
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
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
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _load(content: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SUT_")]:
        monkeypatch.delenv(name)
    message = ""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sut.yaml"
        path.write_bytes(content)
        try:
            load_sut_settings(path)
        except SutConfigError as error:
            message = str(error)
    assert not message or message.startswith(str(path)), message


def _leaves(node: object) -> list[tuple[object, object]]:
    """(container, key) of every scalar in a parsed document."""
    found: list[tuple[object, object]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, value in items:
        if isinstance(value, dict | list):
            found += _leaves(value)
        else:
            found.append((node, key))
    return found


@FUZZ
@given(index=st.integers(0, 10_000), value=documents)
def test_a_value_of_the_shipped_file_replaced_by_random_data(
    monkeypatch: pytest.MonkeyPatch, index: int, value: object
) -> None:
    data = yaml.safe_load(SHIPPED)
    leaves = _leaves(data)
    container, key = leaves[index % len(leaves)]
    container[key] = value  # type: ignore[index]
    _load(yaml.safe_dump(data).encode(), monkeypatch)


@FUZZ
@given(start=st.integers(0, len(SHIPPED)), length=st.integers(1, 40), insert=st.text(max_size=20))
def test_text_mutations(
    monkeypatch: pytest.MonkeyPatch, start: int, length: int, insert: str
) -> None:
    text = SHIPPED[:start] + insert + SHIPPED[start + length :]
    _load(text.encode("utf-8", "surrogatepass"), monkeypatch)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_random_bytes(monkeypatch: pytest.MonkeyPatch, raw: bytes) -> None:
    _load(raw, monkeypatch)
