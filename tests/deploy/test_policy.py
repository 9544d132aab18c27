"""Best-practice policy check of the Kubernetes manifests (checkov), with every waiver named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.deploy.k8s import LOW_UID_WAIVER, SECRET_ENV_WAIVER, WAIVERS
from fixtures.deploy.render import REPO
from fixtures.pytest_plugin import missing_component

pytestmark = pytest.mark.unit
K8S = REPO / "fixtures" / "deploy" / "k8s"
ALLOWED = {*WAIVERS, SECRET_ENV_WAIVER[0], LOW_UID_WAIVER[0]}


def checkov() -> str:
    """CHECKOV, or .venv-policy/bin/checkov (made by `make test`'s bootstrap), or PATH."""
    for candidate in (os.environ.get("CHECKOV"), str(REPO / ".venv-policy/bin/checkov")):
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("checkov")
    if found is None:
        missing_component(
            "checkov not installed: python3 -m venv .venv-policy && "
            ".venv-policy/bin/pip install checkov (or set CHECKOV)"
        )
    return found


def run_checkov(*target: str) -> dict[str, Any]:
    result = subprocess.run(
        [checkov(), *target, "--framework", "kubernetes", "-o", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.strip(), result.stderr[-2000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report  # type: ignore[no-any-return]


def test_every_manifest_passes_the_policy_check_with_named_waivers() -> None:
    report = run_checkov("-d", str(K8S))
    summary = report["summary"]
    print(f"\ncheckov {summary['checkov_version']}: {summary}")
    failed = [(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])]
    assert failed == []
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 40
    skipped = {c["check_id"] for c in report["results"].get("skipped_checks", [])}
    assert (
        skipped <= ALLOWED
    )  # nothing waived that is not named (with why) in fixtures/deploy/k8s.py


def test_a_privileged_container_fails_the_policy_check(tmp_path: Path) -> None:
    backend = next(
        d
        for d in yaml.safe_load_all((K8S / "backend.yaml").read_text())
        if d["kind"] == "Deployment"
    )
    backend["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(backend))
    report = run_checkov("-f", str(bad))
    failed = {c["check_id"] for c in report["results"].get("failed_checks", [])}
    assert "CKV_K8S_16" in failed  # "Container should not be privileged"
