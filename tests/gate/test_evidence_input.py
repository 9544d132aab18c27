"""Inputs the judging reads: a directory of scenarios (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.loader import resolve

pytestmark = pytest.mark.unit

SCENARIO = """\
name: {name}
seed: 7
load:
  users: [api]
  rate:
    - {{rps: 40, hold_s: 20s}}
kpis:
  - error_rate(*) < 5% during whole
"""


def test_a_directory_reads_both_yml_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SCENARIO.format(name="a"))
    (tmp_path / "b.yml").write_text(SCENARIO.format(name="b"))
    (tmp_path / "notes.txt").write_text("not a scenario")
    assert sorted(s.name for s in resolve([str(tmp_path)], None)) == ["a", "b"]


def test_a_failed_readiness_check_counts_as_the_probe_timeout_in_db_query() -> None:
    """Old code skipped it: avg(db_query) read only the checks that answered."""
    from fixtures.signals import reference_signals
    from scenarios.probes import query_times

    ready = reference_signals().ready
    assert ready is not None
    body = {"checks": {"postgres": {"ok": False, "response_time_ms": 3.0},
                       "redis": {"ok": True, "response_time_ms": 1.5}}}  # fmt: skip
    found = query_times(ready, body, ("postgres", "redis"), failed_ms=2000.0)
    assert found == {"db_query": 2000.0, "redis_query": 1.5}


def test_a_probe_that_cannot_reach_the_service_is_a_probe_error_not_not_ready() -> None:
    import httpx

    from scenarios.probes import Probes

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    probes = Probes("http://127.0.0.1:9", 0.0, timeout_s=0.5)
    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        probes.sample(client)
    assert [s.name for s in probes.samples] == ["probe.error"]  # old code: ready=0 too
