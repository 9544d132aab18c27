"""A scenario names its target: loaded relative to the scenario file, fault targets and probe
series validated against it, every mistake exit 2 at file:line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaosgate.cli import main
from chaosgate.errors import EXIT_BAD_INPUT, ConfigError, ScenarioError
from fixtures.stack import Address
from scenarios.loader import load_scenario
from scenarios.schema import Scenario, overrides_key

pytestmark = pytest.mark.unit

TARGET = """\
target_url: http://127.0.0.1:18080
version: 1.4.2
upstreams:
  db: {upstream: 127.0.0.1:5432, listen: 25432}
  cache: 127.0.0.1:6379
processes:
  app: {pid_file: app.pid}
"""

SCENARIO = """\
name: example-pg-down
target: {target}
load:
  users: [ping]
  rate: [{{rps: 10, hold_s: 20}}]
faults:
  - {{name: db-down, at_s: 5, for_s: 5, target: {fault_target}, fault: {fault}}}
kpis:
  - p50(GET /ping) < 200ms during baseline  # 40 planned: p95 (100) would be refused by --check
  - recovery(db-down) < 30s
"""


def write(directory: Path, target: str = "target.yaml", fault_target: str = "db",
          fault: str = "down", target_text: str = TARGET) -> Path:  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "target.yaml").write_text(target_text)
    path = directory / "scenario.yaml"
    path.write_text(SCENARIO.format(target=target, fault_target=fault_target, fault=fault))
    return path


def test_a_target_file_loads_relative_to_the_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "gate")
    monkeypatch.chdir(tmp_path)  # the user stands elsewhere: the path is the scenario's
    scenario = load_scenario(Path("gate/scenario.yaml"))
    target = scenario.external_target()
    assert target is not None
    assert target.upstreams["db"] == (Address("127.0.0.1", 5432), 25432)
    assert target.version == "1.4.2"
    assert scenario.faults[0].detect_dependency == "db"  # its breaker.db, if declared, detects
    assert target.processes["app"].pid_file == (tmp_path / "gate" / "app.pid").resolve()
    assert scenario.target == str((path.parent / "target.yaml").resolve())  # runs from anywhere
    # a replay (result.json's scenario, validated without the loader) finds the same target
    again = Scenario.model_validate(scenario.model_dump(mode="json"))
    assert again.external_target() == target


def test_an_inline_target_is_the_same_mapping(tmp_path: Path) -> None:
    inline = "{target_url: 'http://127.0.0.1:18080', upstreams: {db: '127.0.0.1:5432'}}"
    scenario = load_scenario(write(tmp_path, target=inline))
    target = scenario.external_target()
    assert target is not None
    assert target.proxy_names == ("db", "client")
    assert target.signals is None


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # old code: 'db' is not one of the reference stack's proxies, 'postgres' is (wrongly) fine
        ({"fault_target": "postgres"}, ":7: faults.0.target: unknown target 'postgres'; proxies: db, cache, client; services: app"),
        ({"fault_target": "app"}, ":7: faults.0.target: down needs a proxy target, one of: db, cache, client"),
        ({"fault_target": "db", "fault": "kill"}, ":7: faults.0.target: kill needs a service target, one of: app"),
        ({"fault_target": "db", "fault": "pool_exhaustion"}, ":7: faults.0.target: pool_exhaustion reads the service's pool: the target declares no signals profile"),
        ({"target": "nowhere.yaml"}, ":2: target: no target file 'nowhere.yaml'"),
        ({"target": "[a, b]"}, ":2: target: expected a target file (path) or a mapping"),
        ({"target": "{target_url: 'http://x:1'}"}, ":2: missing required key 'upstreams'"),
        ({"target": "{target_url: 'http://x:1', upstreams: {db: nohost}}"}, ":2: upstreams.db: expected host:port"),
    ],
)  # fmt: skip
def test_a_bad_target_or_fault_target_is_exit_2_at_the_scenario_line(
    tmp_path: Path, kwargs: dict[str, str], expected: str
) -> None:
    path = write(tmp_path, **kwargs)
    with pytest.raises((ScenarioError, ConfigError)) as error:
        load_scenario(path)
    assert error.value.exit_code == EXIT_BAD_INPUT
    assert f"{path}{expected}" in str(error.value), str(error.value)


def test_a_mistake_inside_the_target_file_names_that_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, target_text=TARGET.replace("cache: 127.0.0.1:6379", "cache: 6379"))
    with pytest.raises(ConfigError) as error:
        load_scenario(path)
    assert str(error.value).startswith(f"{tmp_path / 'target.yaml'}:5: upstreams.cache"), str(
        error.value
    )


def test_a_process_fault_on_a_declared_process_is_valid(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, fault_target="app", fault="pause"))
    assert scenario.faults[0].target == "app"
    # a pid file alone cannot be started again: kill needs the command that starts it
    with pytest.raises(ScenarioError, match=r":7: faults\.0\.target: kill needs a way to start"):
        load_scenario(write(tmp_path, fault_target="app", fault="kill"))
    text = TARGET.replace("{pid_file: app.pid}", "{pid_file: app.pid, command: [./start.sh]}")
    restartable = load_scenario(write(tmp_path, fault_target="app", fault="kill", target_text=text))
    assert restartable.faults[0].fault == "kill"


def test_probe_series_follow_the_target_s_signals(tmp_path: Path) -> None:
    """`ready` is a series only when the target declares a readiness URL."""
    path = write(tmp_path)
    path.write_text(path.read_text() + "  - min(ready) >= 1 during baseline\n")
    with pytest.raises(ScenarioError, match=r":11: kpis\.2: .*'ready' is none"):
        load_scenario(path)
    (tmp_path / "signals.yaml").write_text("ready: {url: /healthz}\n")
    (tmp_path / "target.yaml").write_text(TARGET + "signals: signals.yaml\n")
    series = load_scenario(path).probe_series()
    assert {s for s in series if not s.startswith(("edge.", "proc."))} == {"ready"}
    # with a profile, the stack's own view too: each upstream's edge, each process
    assert {"edge.db.open", "edge.cache.bytes_up", "proc.app.rss_mb", "proc.app.fds"} <= series


def test_reference_stack_settings_do_not_apply_to_a_target(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_text(
        path.read_text() + "stack: {sut_overrides: {postgres.breaker.enabled: false}}\n"
    )
    with pytest.raises(ScenarioError, match=r":11: stack\.sut_overrides: .*reference stack only"):
        load_scenario(path)


def test_scenarios_on_different_targets_do_not_share_a_stack(tmp_path: Path) -> None:
    one = load_scenario(write(tmp_path / "a"))
    two = load_scenario(write(tmp_path / "b"))
    inline = load_scenario(
        write(tmp_path / "c", target="{target_url: 'http://h:1', upstreams: {db: 'h:2'}}")
    )
    keys = {overrides_key(s) for s in (one, two, inline)}
    assert len(keys) == 3
    assert overrides_key(load_scenario(write(tmp_path / "a"))) == overrides_key(one)


def test_run_check_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "gate")
    bad = write(tmp_path / "bad", fault_target="postgres")
    monkeypatch.chdir(tmp_path / "bad")
    main(["run", "--check", os.path.relpath(tmp_path / "gate" / "scenario.yaml")])
    assert "1 scenario(s) valid: example-pg-down" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["run", "--check", str(bad)])
    assert done.value.code == EXIT_BAD_INPUT
    assert f"{bad}:7: faults.0.target: unknown target 'postgres'" in capsys.readouterr().err
