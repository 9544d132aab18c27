"""A service behind a path prefix (`target_url: http://host:port/v1`): every request goes under
it, through the client proxy too. The old reader kept only scheme://host:port, so every request
of such a service was a 404 (the run FAILED on the harness's own mistake)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from chaosgate.errors import ConfigError
from fixtures.target import load_target
from load.conftest import HERE, Server

REPO = Path(__file__).resolve().parents[2]

SCENARIO = """\
name: prefixed
target: {{target_url: "{url}/v1/", upstreams: {{db: "{address}"}}}}
load:
  users: [ping]
  rate: [{{rps: 40, hold_s: 5s}}]
  warmup_s: 1s
  drain_s: 1s
kpis:
  - error_rate(GET /ping) < 5% during baseline
  - p95(GET /ping) < 500ms during baseline
"""


@pytest.mark.scenario
@pytest.mark.integration
def test_requests_go_under_the_target_url_s_path(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    """Fails on the old code: every GET /ping a 404 at the service's root (exit 1; exit 3 on a
    busy host, which still names the failed error rate)."""
    server = start_server(str(HERE / "capacity_server.py"), "--prefix", "/v1")
    scenario = tmp_path / "prefixed.yaml"
    scenario.write_text(SCENARIO.format(url=server.url, address=server.url.split("//")[1]))
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "chaosgate", "run", str(scenario), "--out", str(out)],
        cwd=tmp_path, env=os.environ | {"PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [result_file] = out.glob("*/result.json")
    [result] = json.loads(result_file.read_text())["scenarios"]
    ping = [b for b in result["series"] if b["name"] == "GET /ping"]
    assert sum(b["count"] for b in ping) >= 150
    assert sum(b["errors"] for b in ping) == 0


def test_the_path_is_kept_without_its_trailing_slash(tmp_path: Path) -> None:
    path = tmp_path / "target.yaml"
    path.write_text("target_url: http://127.0.0.1:1/api/v1/\nupstreams: {db: 'h:1'}\n")
    assert load_target(path).target_url == "http://127.0.0.1:1/api/v1"


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/v1?x=1", "http://127.0.0.1:1/#top"])
def test_a_query_or_fragment_is_refused_at_its_line(tmp_path: Path, url: str) -> None:
    path = tmp_path / "target.yaml"
    path.write_text(f"upstreams: {{db: 'h:1'}}\ntarget_url: {url}\n")
    with pytest.raises(
        ConfigError, match=r"target\.yaml:2: target_url: expected .*without a query"
    ):
        load_target(path)
