"""Run many scenarios into one `RunResult`: stacks shared where the SUT config matches, the
stack reset and CHECKED clean between scenarios, run metadata (versions, commit, machine).

Scenarios are grouped by their `sut_overrides` (first appearance order); each group shares one
stack, which is what keeps the release suite inside its wall-time budget. A scenario after which
the stack is dirty (a toxic left, a process paused or dead) is INVALID: its faults did not undo
themselves, or the SUT died under them, so its verdict cannot be trusted.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import psutil

from chaosgate import __version__
from chaosgate.errors import EXIT_INVALID, EXIT_KPI_FAILED, EXIT_OK, StackError
from chaosgate.settings import HarnessSettings
from fixtures.backends import open_stack
from fixtures.clean import restore_clean
from fixtures.external import target_identity
from reports.model import Event, Machine, RunMetadata, RunResult, ScenarioResult, Status
from scenarios.runner import invalid_result, run_scenario
from scenarios.schema import Scenario, overrides_key

REPO = Path(__file__).resolve().parents[1]
PACKAGES = (
    "pydantic",
    "locust",
    "hdrhistogram",
    "toxiproxy-python",
    "httpx",
    "fastapi",
    "testcontainers",
)
Report = Callable[[str], None]
INTERRUPTED = "interrupted"


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during a run: carries the result so far (the stack already torn down),
    so the CLI still writes result.json and the reports before it exits 130."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(INTERRUPTED)
        self.result = result


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def machine() -> Machine:
    return Machine(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        python=platform.python_version(),
        cpus=os.cpu_count() or 1,
        memory_gb=round(psutil.virtual_memory().total / 2**30, 2),
    )


def commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def versions() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def overall(scenarios: list[ScenarioResult]) -> tuple[Status, int]:
    if any(s.status == "invalid" for s in scenarios):
        return "invalid", EXIT_INVALID
    if any(s.status == "fail" for s in scenarios):
        return "fail", EXIT_KPI_FAILED
    return "pass", EXIT_OK


def left_dirty(result: ScenarioResult, left: list[str]) -> ScenarioResult:
    """The scenario left the stack dirty: INVALID with what was found (now repaired)."""
    found = "; ".join(left)
    reason = f"stack left dirty after the scenario (now repaired): {found}"
    if result.invalid_reason:
        reason = f"{result.invalid_reason}; {reason}"
    event = Event(t_s=result.duration_s, kind="cleanup", message=found)
    return result.model_copy(
        update={"status": "invalid", "invalid_reason": reason, "events": [*result.events, event]}
    )


def _groups(scenarios: list[Scenario]) -> list[list[Scenario]]:
    groups: dict[tuple[object, ...], list[Scenario]] = {}
    for scenario in scenarios:
        groups.setdefault(overrides_key(scenario), []).append(scenario)
    return list(groups.values())


def run_all(
    scenarios: list[Scenario],
    settings: HarnessSettings,
    *,
    backend: str,
    out_dir: Path,
    run_id: str,
    command: str = "",
    report: Report = print,
    progress: bool = True,
) -> RunResult:
    started = time.time()
    results: list[ScenarioResult] = []
    used_backend = ""
    identity: dict[str, str | None] | None = None  # the first stack's service: RunResult.target
    toxiproxy_version = ""
    interrupted = False
    for group in _groups(scenarios):
        if interrupted:  # the groups after the interrupted one never start
            results += [invalid_result(s, f"{INTERRUPTED} before it started") for s in group]
            continue
        overrides = dict(group[0].stack.sut_overrides)
        target = group[0].external_target()  # a scenario's own target: its external stack
        done_here = 0
        try:
            with open_stack(settings, backend, sut_overrides=overrides or None, report=report,
                            target=target) as stack:  # fmt: skip
                used_backend, toxiproxy_version = stack.backend, stack.toxiproxy.version()
                identity = identity or target_identity(stack, target)
                for scenario in group:
                    found = restore_clean(stack)
                    report(f"scenario {scenario.name}: running ({scenario.duration_s:g} s of load)")
                    result = run_scenario(
                        stack, scenario, settings, out_dir / scenario.name, progress
                    )
                    left = restore_clean(stack)  # also CHECKS: raises when Toxiproxy stays dirty
                    if found:  # left by an earlier scenario (already judged) or by start-up
                        result.events.append(
                            Event(t_s=0.0, kind="cleanup", message="; ".join(found))
                        )
                    if left:
                        result = left_dirty(result, left)
                    results.append(result)
                    done_here += 1
                    report(f"scenario {scenario.name}: {result.status}")
        except StackError as error:
            for scenario in group[done_here:]:
                results.append(invalid_result(scenario, f"stack failed: {error}"))
        except KeyboardInterrupt:  # the stack is torn down by now (its context has exited)
            interrupted = True
            report(f"interrupted: {len(results)} scenario(s) done; writing the result so far")
            results += [invalid_result(s, INTERRUPTED) for s in group[done_here : done_here + 1]]
            results += [
                invalid_result(s, f"{INTERRUPTED} before it started")
                for s in group[done_here + 1 :]
            ]
    status, exit_code = overall(results)
    meta = RunMetadata(
        run_id=run_id,
        started_at=started,
        ended_at=time.time(),
        chaosgate_version=__version__,
        commit=commit(),
        command=command,
        backend=used_backend,
        seed=next((s.seed for s in scenarios if s.seed is not None), None),
        machine=machine(),
        versions={**versions(), **({"toxiproxy": toxiproxy_version} if toxiproxy_version else {})},
    )
    run = RunResult(
        run=meta, status=status, exit_code=exit_code, scenarios=results, target=identity
    )
    if interrupted:
        raise RunInterrupted(run)
    return run
