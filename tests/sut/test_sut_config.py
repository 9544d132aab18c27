"""SUT config: the shipped file loads, env overrides win key by key, bad files name the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sut.config import SutConfigError, SutSettings, load_sut_settings

SHIPPED = Path(__file__).parents[2] / "sut" / "config.yaml"


@pytest.mark.unit
def test_shipped_config_matches_the_contract_defaults() -> None:
    settings = load_sut_settings(SHIPPED)
    assert settings == SutSettings()  # the file and the model's defaults agree
    assert [r.name for r in settings.mcp.replicas] == ["ai_memory-1", "ai_memory-2"]
    assert settings.warehouse.schema_ == "public"


@pytest.mark.unit
def test_env_overrides_one_nested_key_and_keeps_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUT_POSTGRES__POOL__MAX_SIZE", "12")
    settings = load_sut_settings(SHIPPED)
    assert settings.postgres.pool.max_size == 12
    assert settings.postgres.pool.acquire_timeout_s == 0.15
    assert settings.postgres.port == 5432


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "postgres: {port: 70000}\n",
            ":1: postgres.port: expected a port number 1-65535, got 70000",
        ),
        ("redis:\n  pool:\n    max_sise: 3\n", ":3: redis.pool.max_sise: unknown key"),
        ("cache: {dashboard_ttl_s: soon}\n", "cache.dashboard_ttl_s: expected a valid number"),
        (
            "mcp:\n  replicas:\n    - {name: a, url: x}\n",
            "mcp.replicas.0.listen_port: required key",
        ),
        ("service: [1\n", "not valid YAML"),
    ],
)
def test_bad_file_names_the_key_and_what_was_expected(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SutConfigError) as caught:
        load_sut_settings(path)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(str(path))


@pytest.mark.unit
def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(SutConfigError, match="config file not found"):
        load_sut_settings(tmp_path / "absent.yaml")


@pytest.mark.unit
def test_a_bad_env_override_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUT_REDIS__PORT", "zero")
    with pytest.raises(SutConfigError, match=r"env SUT_REDIS__PORT\): redis.port"):
        load_sut_settings(SHIPPED)
    assert os.environ["SUT_REDIS__PORT"] == "zero"


@pytest.mark.unit
def test_a_duplicate_key_is_refused_at_its_line(tmp_path: Path) -> None:
    """PyYAML keeps the last of two `port:` silently; the SUT refuses the second (issue 23)."""
    path = tmp_path / "dup.yaml"
    text = SHIPPED.read_text().replace("  port: 5432\n", "  port: 5432\n  port: 5433\n", 1)
    path.write_text(text)
    line = text.splitlines().index("  port: 5433") + 1
    with pytest.raises(SutConfigError, match=rf"^{path}:{line}: duplicate key 'port'"):
        load_sut_settings(path)


@pytest.mark.unit
def test_a_truncated_config_is_refused_and_an_explicit_empty_section_is_not(
    tmp_path: Path,
) -> None:
    text = SHIPPED.read_text()
    path = tmp_path / "cut.yaml"
    path.write_text(text[: text.index("cache:")])  # the copy stopped before cache
    with pytest.raises(
        SutConfigError, match=rf"^{path}:\d+: section\(s\) missing: cache, dashboard, health, mcp"
    ):
        load_sut_settings(path)
    rest = "".join(f"{s}: {{}}\n" for s in ("cache", "dashboard", "health", "mcp", "websocket"))
    path.write_text(text[: text.index("cache:")] + rest)  # each left at its defaults, said so
    assert load_sut_settings(path) == SutSettings()


@pytest.mark.unit
def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SutConfigError, match=rf"^{path}:\d+: .*more than \d+ values"):
        load_sut_settings(path)
