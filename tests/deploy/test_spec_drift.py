"""One description of the stack: a service's server flags, what it starts after, the SUT's
command and its probe paths live in fixtures/catalog.py, and every runner reads them there: local processes, containers, and
the rendered Compose and Kubernetes files. A change there without rendering again makes those
files stale."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from fixtures.catalog import (
    POSTGRES,
    REDIS,
    SUT_READY_PATH,
    SUT_STARTS_AFTER,
    TOXIPROXY,
    ServiceSpec,
    stack_specs,
    sut_command,
)
from fixtures.deploy.render import render_all, stale
from fixtures.deploy.topology import dns
from fixtures.stack import Address
from fixtures.start_order import prerequisites

pytestmark = pytest.mark.unit
POSTGRES_K8S = "fixtures/deploy/k8s/postgres.yaml"
COMPOSE = "docker-compose.test.yml"
BACKEND_K8S = "fixtures/deploy/k8s/backend.yaml"


def _postgres_args(files: dict[str, str]) -> tuple[list[str], list[str]]:
    compose = yaml.safe_load(files[COMPOSE])["services"]["postgres"]["command"]
    [k8s] = [d for d in yaml.safe_load_all(files[POSTGRES_K8S]) if d["kind"] == "StatefulSet"]
    return compose, k8s["spec"]["template"]["spec"]["containers"][0]["args"]


def test_every_runner_reads_the_specs_flags() -> None:
    bind = Address("127.0.0.1", 5999)
    for spec in (POSTGRES, REDIS, TOXIPROXY):
        args = spec.args(bind)  # what the local and the containers backends run
        assert args[len(args) - len(spec.flags) :] == list(spec.flags), spec.name
    compose, k8s = _postgres_args(render_all())
    assert compose == k8s == ["postgres", *POSTGRES.flags]
    # the one truth: durability against OS crashes off, acknowledged commits kept
    assert "synchronous_commit=off" not in POSTGRES.flags
    assert {"fsync=off", "full_page_writes=off", "max_connections=300"} <= set(POSTGRES.flags)


@pytest.fixture
def changed_flag() -> Iterator[str]:
    """The Postgres spec with one flag changed, as a commit that forgot to render would."""
    old = POSTGRES.flags
    new = tuple("max_connections=301" if f == "max_connections=300" else f for f in old)
    assert new != old
    object.__setattr__(POSTGRES, "flags", new)  # a frozen spec: changed for this test only
    try:
        yield "max_connections=301"
    finally:
        object.__setattr__(POSTGRES, "flags", old)


def test_a_spec_flag_changed_without_rendering_makes_the_deploy_files_stale(
    changed_flag: str,
) -> None:
    files = render_all()
    compose, k8s = _postgres_args(files)
    assert changed_flag in compose
    assert changed_flag in k8s
    assert set(stale(files)) == {COMPOSE, POSTGRES_K8S}
    assert changed_flag in POSTGRES.args(Address("127.0.0.1", 5999))  # local and containers


def test_a_spec_without_flags_runs_as_it_listens() -> None:
    spec = ServiceSpec("x", 1, lambda bind: ["--port", str(bind.port)], lambda _a: True)
    assert spec.args(Address("127.0.0.1", 7)) == ["--port", "7"]


def test_the_sut_s_readiness_path_and_command_come_from_the_catalog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The backends probe SUT_READY_PATH; Compose and Kubernetes probe the same path and run
    the same command (the renderers wrote their own copies before)."""
    monkeypatch.setitem(SUT_READY_PATH, "backend", "/api/ready-now")
    files = render_all()
    backend = yaml.safe_load(files[COMPOSE])["services"]["backend"]
    assert "http://127.0.0.1:8000/api/ready-now" in backend["healthcheck"]["test"]
    [k8s] = [d for d in yaml.safe_load_all(files[BACKEND_K8S]) if d and d["kind"] == "Deployment"]
    container = k8s["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/ready-now"
    assert container["command"][1:] == sut_command("backend", "/etc/chaosgate/sut.yaml")
    assert backend["command"][1:] == sut_command("backend", "/etc/chaosgate/sut.yaml")
    assert set(stale(files)) == {COMPOSE, BACKEND_K8S}


def _depends_on(files: dict[str, str]) -> dict[str, list[str]]:
    services = yaml.safe_load(files[COMPOSE])["services"]
    return {name: list(service.get("depends_on", {})) for name, service in services.items()}


def test_compose_starts_each_service_after_what_its_spec_starts_after() -> None:
    """On the old code Compose wrote its own order: the replicas did not wait for Postgres
    (they create their schema at start-up, and the local backend waited for it)."""
    rendered = _depends_on(render_all())
    expected = {
        dns(n): [dns(a) for a in after] for n, after in prerequisites(stack_specs()).items()
    }
    assert rendered == expected
    assert "postgres" in rendered["ai-memory-1"]
    services = yaml.safe_load(render_all()[COMPOSE])["services"]
    conditions = {
        c["condition"] for s in services.values() for c in s.get("depends_on", {}).values()
    }
    assert conditions == {"service_healthy"}  # every service of the file has a healthcheck


def _waits_for(files: dict[str, str], path: str) -> list[str]:
    """What the pod's init container waits for (fixtures.deploy.wait), in Kubernetes."""
    [k8s] = [d for d in yaml.safe_load_all(files[path]) if d and d["kind"] == "Deployment"]
    [init] = k8s["spec"]["template"]["spec"]["initContainers"]
    assert init["command"][:3] == ["python", "-m", "fixtures.deploy.wait"]
    return list(init["command"][3:])


def test_kubernetes_pods_wait_for_what_their_spec_starts_after() -> None:
    files = render_all()
    assert _waits_for(files, "fixtures/deploy/k8s/ai-memory-1.yaml") == [
        "http://toxiproxy:8474/version",
        "pg://toxiproxy:15432",
    ]
    assert _waits_for(files, "fixtures/deploy/k8s/gateway.yaml") == [
        "http://toxiproxy:8474/version",
        "http://toxiproxy:19001/health",
        "http://toxiproxy:19002/health",
    ]


def test_a_starts_after_changed_without_rendering_makes_compose_and_kubernetes_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(SUT_STARTS_AFTER, "backend", ("toxiproxy", "redis"))
    files = render_all()
    assert _depends_on(files)["backend"] == ["toxiproxy", "redis"]
    assert _waits_for(files, BACKEND_K8S)[1] == "redis://toxiproxy:16379"
    assert set(stale(files)) == {COMPOSE, BACKEND_K8S}
