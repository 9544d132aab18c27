"""The Kubernetes manifests: schema-valid offline for the stated version, and the plan's promises."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from fixtures.deploy.profile import load_profile
from fixtures.deploy.render import PROFILES, render
from fixtures.stack import PROXIES
from scenarios.load.plan import LoadPlan
from sut.config import load_sut_settings

pytestmark = pytest.mark.unit
PROFILE = PROFILES / "kubernetes.yaml"
VERSION = load_profile(PROFILE).kubernetes.version  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return [d for text in render(PROFILE).values() for d in yaml.safe_load_all(text) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = ("Deployment", "StatefulSet", "Job")
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs if d["kind"] in kinds
    }


def test_every_manifest_is_schema_valid(docs: list[dict[str, Any]]) -> None:
    assert VERSION == "1.30.0"
    assert len(docs) >= 25
    for doc in docs:
        # strict: an unknown field is an error, not ignored
        kubernetes_validate.validate(doc, VERSION, strict=True)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "replicaz"), 3),  # unknown field
        (("spec", "replicas"), "three"),  # wrong type
        (("spec", "template", "spec", "containers", 0, "livenessProbe", "httpGet", "pth"), "/"),
        (("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"), "http"),
    ],
)
def test_a_bad_field_fails_validation(
    docs: list[dict[str, Any]], path: tuple[str | int, ...], value: object
) -> None:
    bad = copy.deepcopy(by_kind(docs, "Deployment")["backend"])
    node: Any = bad
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSION, strict=True)


def test_backend_autoscales_as_the_plan_says(docs: list[dict[str, Any]]) -> None:
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["backend"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    target = hpa["spec"]["metrics"][0]["resource"]
    assert target == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}
    assert by_kind(docs, "PodDisruptionBudget")["backend"]["spec"]["minAvailable"] == 2
    deployment = by_kind(docs, "Deployment")["backend"]["spec"]
    assert deployment["strategy"]["type"] == "RollingUpdate"
    container = deployment["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/ready"


@pytest.mark.parametrize("name", ["gateway", "ai-memory-1", "ai-memory-2"])
def test_liveness_never_depends_on_a_dependency(docs: list[dict[str, Any]], name: str) -> None:
    # their /health is 503 while an upstream is down: as liveness, a fault would restart them
    container = by_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert "tcpSocket" in container["livenessProbe"]


def test_every_container_is_bounded_and_unprivileged(docs: list[dict[str, Any]]) -> None:
    for name, pod in pods(docs).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for c in pod["containers"]:
            assert set(c["resources"]) == {"requests", "limits"}, name
            assert set(c["resources"]["limits"]) == {"cpu", "memory"}, name
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], name
            if pod.get("restartPolicy") != "Never":  # jobs end by themselves
                assert "livenessProbe" in c, name
                assert "readinessProbe" in c, name


def test_secrets_are_referenced_never_inlined(docs: list[dict[str, Any]]) -> None:
    assert not by_kind(docs, "Secret")
    text = json.dumps(docs)
    refs = [e for pod in pods(docs).values() for c in pod["containers"] for e in c.get("env", [])]
    secret_refs = {e["name"] for e in refs if "secretKeyRef" in e.get("valueFrom", {})}
    assert {"SUT_POSTGRES__PASSWORD", "SUT_WAREHOUSE__PASSWORD", "POSTGRES_PASSWORD"} <= secret_refs
    assert "snow" not in text.replace("fakesnow", "")  # the warehouse password of sut/config.yaml


def test_the_config_map_is_the_one_config_as_deployed(
    docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    data = by_kind(docs, "ConfigMap")["chaosgate-sut-config"]["data"]["sut.yaml"]
    (tmp_path / "sut.yaml").write_text(data)
    deployed = load_sut_settings(tmp_path / "sut.yaml")  # the SUT itself accepts it
    assert (deployed.postgres.host, deployed.postgres.port) == ("toxiproxy", 15432)
    assert deployed.mcp.gateway_url == "http://toxiproxy:18090"
    assert [r.url for r in deployed.mcp.replicas] == [
        "http://toxiproxy:19001/mcp",
        "http://toxiproxy:19002/mcp",
    ]
    assert (
        deployed.postgres.pool.max_size
        == load_sut_settings("sut/config.yaml").postgres.pool.max_size
    )


def test_toxiproxy_has_the_local_stack_proxy_names(docs: list[dict[str, Any]]) -> None:
    config = by_kind(docs, "ConfigMap")["toxiproxy-config"]["data"]["toxiproxy.json"]
    proxies = json.loads(config)
    assert [p["name"] for p in proxies] == list(PROXIES)
    compose = PROFILES.parent.parent / "containers/compose/toxiproxy.json"
    assert proxies == json.loads(compose.read_text())  # the very proxies of the Compose stack
    upstreams = {p["upstream"].split(":")[0] for p in proxies}
    services = set(by_kind(docs, "Service"))
    assert upstreams <= services  # every upstream is a Service of this deployment
    ports = {p["name"] for p in by_kind(docs, "Service")["toxiproxy"]["spec"]["ports"]}
    assert ports == {"api", *(n.replace("_", "-") for n in PROXIES)}
    assert by_kind(docs, "Deployment")["toxiproxy"]["spec"]["replicas"] == 1


def test_dependencies_are_stateful_sets(docs: list[dict[str, Any]]) -> None:
    assert set(by_kind(docs, "StatefulSet")) == {"postgres", "redis"}


def test_external_dependency_is_an_external_name_service(tmp_path: Path) -> None:
    profile = tmp_path / "external.yaml"
    profile.write_text(
        PROFILE.read_text().replace(
            "postgres: {mode: in_cluster, storage: 1Gi}",
            "postgres: {mode: external, external_host: db.example.internal}",
        )
    )
    docs = [d for text in render(profile).values() for d in yaml.safe_load_all(text) if d]
    assert "postgres" not in by_kind(docs, "StatefulSet")
    service = by_kind(docs, "Service")["postgres"]
    assert service["spec"]["type"] == "ExternalName"
    assert service["spec"]["externalName"] == "db.example.internal"
    kubernetes_validate.validate(service, VERSION, strict=True)


def test_the_load_job_runs_chaosgate_workers(docs: list[dict[str, Any]]) -> None:
    jobs = by_kind(docs, "Job")
    plan = LoadPlan.model_validate_json(
        by_kind(docs, "ConfigMap")["load-plan"]["data"]["plan.json"]
    )
    workers = jobs["load-workers"]["spec"]
    assert workers["parallelism"] == workers["completions"] == plan.workers == 2
    assert workers["backoffLimit"] == 0
    command = workers["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["python", "-m", "scenarios.load.worker"]
    assert command[command.index("--master-host") + 1] == "load-master"
    assert command[command.index("--base-url") + 1] == "http://toxiproxy:18000"
    master = jobs["load-master"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert master[master.index("--expect-workers") + 1] == "2"


def test_only_toxiproxy_reaches_the_sut_and_its_dependencies(docs: list[dict[str, Any]]) -> None:
    policies = by_kind(docs, "NetworkPolicy")
    assert set(pods(docs)) <= set(policies)  # every workload's pods have a policy
    toxiproxy = [{"podSelector": {"matchLabels": docs_labels("toxiproxy")}}]
    for name in (
        "backend",
        "gateway",
        "ai-memory-1",
        "ai-memory-2",
        "warehouse",
        "postgres",
        "redis",
    ):
        assert policies[name]["spec"]["ingress"][0]["from"] == toxiproxy, name
    assert policies["load-workers"]["spec"].get("ingress") is None  # nothing reaches a worker


def docs_labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "chaosgate"}
