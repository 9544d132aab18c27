"""`chaosgate init`: drafts from the service's OpenAPI routes, and refuses bad input (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from example_support import ExampleStack

from chaosgate.cli import main
from chaosgate.errors import EXIT_BAD_INPUT, InputError
from chaosgate.processes import free_port
from scenarios.init_cli import RANDOM_ID, check_base_url, parse_upstream, scenario_document


def _init(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(["init", *argv])
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.unit
@pytest.mark.parametrize(
    "spec", ["postgres", "postgres=5432", "=127.0.0.1:5432", "client=127.0.0.1:1", "pg=h:99999"]
)
def test_a_bad_upstream_is_bad_input(spec: str) -> None:
    with pytest.raises(InputError, match="expected"):
        parse_upstream(spec)


@pytest.mark.unit
@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://host/", "http://"])
def test_a_url_without_scheme_or_host_is_bad_input(url: str) -> None:
    with pytest.raises(InputError, match="base URL"):
        check_base_url(url)


@pytest.mark.unit
def test_the_scenario_has_the_plan_kpis_and_a_fault_on_the_first_upstream() -> None:
    from scenarios.init_cli import Upstream

    scenario = scenario_document("x", [Upstream("postgres", "127.0.0.1:5432", 25432)])
    assert scenario["faults"][0] == {
        "name": "postgres-down",
        "at_s": 12,
        "for_s": 10,
        "target": "postgres",
        "fault": "down",
    }
    assert "recovery(postgres-down) < 30s" in scenario["kpis"]
    assert "p95(*) < 200ms during baseline" in scenario["kpis"]
    assert "faults" not in scenario_document("x", [])


@pytest.mark.integration
def test_init_against_the_example_service_drafts_its_get_routes(
    example: ExampleStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = example.start(resilient=False)
    out_dir = tmp_path / "gate"
    code, out, err = _init(
        capsys, base, "--upstream", f"postgres=127.0.0.1:{example.pg.port}", "--dir", str(out_dir)
    )
    assert code == 0, err
    mix = yaml.safe_load((out_dir / "mix.yaml").read_text())
    assert mix["requests"] == [
        {"name": "GET /items", "path": "/items"},
        {"name": "GET /items/{item_id}", "path": f"/items/{RANDOM_ID}", "expect": [200, 404]},
    ]  # POST /items is not drafted; /healthz and /version become the target's signals
    target = yaml.safe_load((out_dir / "target.yaml").read_text())
    assert target["target_url"] == base
    assert target["version_url"] == "/version"
    assert target["signals"] == {"ready": {"url": "/healthz", "ready_status": [200]}}
    upstream = target["upstreams"]["postgres"]
    assert upstream["upstream"] == f"127.0.0.1:{example.pg.port}"
    scenario = yaml.safe_load((out_dir / "scenario.yaml").read_text())
    assert scenario["target"] == "target.yaml"
    assert scenario["load"]["users"] == ["mix.yaml"]
    assert f"127.0.0.1:{upstream['listen']}" in out  # where to point the service
    assert f"chaosgate run {out_dir / 'scenario.yaml'}" in out  # the next command
    # a second init does not overwrite what the user may have edited
    code, _, err = _init(capsys, base, "--dir", str(out_dir))
    assert code == EXIT_BAD_INPUT
    assert "already there" in err


@pytest.mark.unit
def test_init_against_a_url_that_does_not_answer_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = _init(capsys, url, "--dir", str(tmp_path / "gate"))
    assert code == EXIT_BAD_INPUT
    assert f"{url}: expected an HTTP service answering there" in err
    assert not (tmp_path / "gate").exists()
