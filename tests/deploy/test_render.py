"""The deployment files are rendered from sut/config.yaml + profiles and can never drift."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from fixtures.deploy.cli import main
from fixtures.deploy.render import PROFILES, REPO, SUT_CONFIG, render, render_all, stale, write
from fixtures.stack import PROXIES

pytestmark = pytest.mark.unit
COMPOSE = PROFILES / "compose-test.yaml"
K8S = PROFILES / "kubernetes.yaml"


def test_checked_in_files_equal_a_fresh_render() -> None:
    files = render_all()
    assert {"docker-compose.test.yml", "fixtures/containers/compose/toxiproxy.json"} <= set(files)
    assert any(name.startswith("fixtures/deploy/k8s/") for name in files)
    assert stale(files) == [], "run `python -m fixtures.deploy render` and commit the result"
    on_disk = {p.relative_to(REPO).as_posix() for p in (REPO / "fixtures/deploy/k8s").iterdir()}
    assert on_disk == {n for n in files if n.startswith("fixtures/deploy/k8s/")}, "orphan files"


def test_a_changed_checked_in_file_is_stale(tmp_path: Path) -> None:
    files = render(COMPOSE)
    write(files, tmp_path)
    assert stale(files, tmp_path) == []
    target = tmp_path / "docker-compose.test.yml"
    target.write_text(target.read_text().replace("fsync=off", "fsync=on"))
    assert stale(files, tmp_path) == ["docker-compose.test.yml"]


def test_compose_follows_the_sut_config(tmp_path: Path) -> None:
    config = yaml.safe_load(SUT_CONFIG.read_text())
    config["postgres"]["port"] = 5433
    config["mcp"]["gateway"]["port"] = 8091
    changed = tmp_path / "config.yaml"
    changed.write_text(yaml.safe_dump(config))
    files = render(COMPOSE, changed)
    services = yaml.safe_load(files["docker-compose.test.yml"])["services"]
    proxies = {
        p["name"]: p for p in json.loads(files["fixtures/containers/compose/toxiproxy.json"])
    }
    assert proxies["postgres"] == {
        "name": "postgres",
        "listen": "0.0.0.0:15433",
        "upstream": "postgres:5433",
        "enabled": True,
    }
    assert services["backend"]["environment"]["SUT_POSTGRES__PORT"] == "15433"
    assert services["postgres"]["environment"]["PGPORT"] == "5433"
    assert services["backend"]["environment"]["SUT_MCP__GATEWAY_URL"] == "http://toxiproxy:18091"
    assert "http://127.0.0.1:8091/health" in services["gateway"]["healthcheck"]["test"]


def test_compose_proxies_are_the_harness_proxies() -> None:
    files = render(COMPOSE)
    proxies = json.loads(files["fixtures/containers/compose/toxiproxy.json"])
    assert [p["name"] for p in proxies] == list(PROXIES)
    services = yaml.safe_load(files["docker-compose.test.yml"])["services"]
    assert set(services) == {
        "postgres", "redis", "warehouse", "toxiproxy",
        "backend", "gateway", "ai-memory-1", "ai-memory-2",
    }  # fmt: skip
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert all(p.startswith("127.0.0.1:") for p in published)
    assert len(published) == 2  # the client proxy and the Toxiproxy API only


def _bad_profile(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text()
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new, 1))
    return bad


def _exit_of(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    return int(done.value.code or 0), capsys.readouterr().err


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_unknown_profile_key_exits_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _bad_profile(
        tmp_path, COMPOSE, "  sut_retries: 60", "  sut_retries: 60\n  sut_retires: 5"
    )
    code, err = _exit_of(capsys, "render", "--check", "--profile", str(bad))
    assert code == 2
    assert f"{bad}:{_line_of(bad, 'sut_retires')}: compose.sut_retires: unknown key" in err


def test_toxiproxy_port_clash_exits_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _bad_profile(tmp_path, K8S, "api_port: 8474", "api_port: 18000")
    code, err = _exit_of(capsys, "render", "--check", "--profile", str(bad))
    assert code == 2
    assert f"{bad}:{_line_of(bad, 'api_port')}: port clash" in err
    assert "proxy client" in err


def test_published_port_clash_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _bad_profile(
        tmp_path,
        COMPOSE,
        "CHAOSGATE_TOXIPROXY_PORT, default: 8474",
        "CHAOSGATE_TOXIPROXY_PORT, default: 8000",
    )
    code, err = _exit_of(capsys, "render", "--profile", str(bad))
    assert code == 2
    assert f"{bad}:{_line_of(bad, 'toxiproxy_api')}:" in err
    assert "clashes with compose.sut.default" in err


def test_proxy_port_past_65535_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _bad_profile(tmp_path, COMPOSE, "proxy_port_offset: 10000", "proxy_port_offset: 60000")
    code, err = _exit_of(capsys, "render", "--profile", str(bad))
    assert code == 2
    assert f"{bad}:{_line_of(bad, 'proxy_port_offset')}:" in err


def test_bad_sut_config_exits_2_naming_it(tmp_path: Path) -> None:
    from fixtures.deploy.profile import DeployError

    bad = tmp_path / "config.yaml"
    shutil.copy(SUT_CONFIG, bad)
    bad.write_text(bad.read_text().replace("port: 6379", "port: 99999"))
    with pytest.raises(DeployError, match=rf"{bad}:\d+: redis.port: expected a port") as error:
        render(COMPOSE, bad)
    assert error.value.exit_code == 2


def test_check_reports_fresh_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _exit_of(capsys, "render", "--check")
    assert code == 0
