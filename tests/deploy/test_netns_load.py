"""chaosgate's distributed load across separate hosts: Linux network namespaces on this machine.

Hosts (fixtures/deploy/netns.py, 198.18.0.0/24, only inside namespaces this test creates):
  srv     the target (a counting HTTP server on its loopback) behind a real Toxiproxy whose
          `client` proxy listens on the host's address: the fault is a Toxiproxy toxic
  master  the Locust master (`python -m scenarios.load.worker --role master`)
  w1, w2  one Locust worker each
The real `LoadRun` drives it; its `python` is a shim that starts each role on its host, so every
request and every record crosses veth pairs and a bridge between network stacks.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaosgate.errors import GeneratorBehind
from chaosgate.processes import ManagedProcess, wait_until
from fixtures.deploy.netns import Hosts, existing, sweep
from fixtures.pytest_plugin import missing_component
from fixtures.stack import PROXIES
from reports.hdr import merge
from reports.model import SLICES_PER_S
from scenarios.load.plan import LoadPlan
from scenarios.load.run import LoadOutcome, LoadRun

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _root_iproute2_and_toxiproxy() -> None:
    """In CI a missing piece fails the test; elsewhere it skips (fixtures.pytest_plugin)."""
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("toxiproxy-server"):
        missing_component("needs root, iproute2 and toxiproxy-server")


REPO = Path(__file__).resolve().parents[2]
TARGET_PORT, PROXY_PORT, API = 8080, 18000, "127.0.0.1:8474"
LATENCY_MS = 40
SHIM = """#!/usr/bin/env bash
# LoadRun's "python": start each load role on its own host (namespace)
set -euo pipefail
role=""; prev=""
for a in "$@"; do [ "$prev" = --role ] && role="$a"; prev="$a"; done
case "$role" in
  master) exec ip netns exec {master_ns} {python} "$@" --bind-host 0.0.0.0 ;;
  worker)
    n=$(cat {counter} 2>/dev/null || echo 0); echo $((n + 1)) > {counter}
    ns={workers}; ns=${{ns[$((n % {count}))]}}
    exec ip netns exec "$ns" {python} "$@" --master-host {master_ip} ;;
  *) exec {python} "$@" ;;
esac
"""


@dataclass
class Site:
    hosts: Hosts
    tmp: Path
    workers: list[str]

    @property
    def base_url(self) -> str:
        return f"http://{self.hosts.ip('srv')}:{PROXY_PORT}"

    def shim(self, name: str) -> str:
        path = self.tmp / name
        workers = "(" + " ".join(self.hosts.ns(w) for w in self.workers) + ")"
        path.write_text(
            SHIM.format(
                master_ns=self.hosts.ns("master"),
                python=sys.executable,
                counter=self.tmp / f"{name}.count",
                workers=workers,
                count=len(self.workers),
                master_ip=self.hosts.ip("master"),
            )
        )
        path.chmod(0o755)
        return str(path)

    def on_srv(self, *argv: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            self.hosts.run_in("srv", list(argv)),
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("netns")
    names = ["srv", "master", "w1", "w2"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    sweep()  # what a killed earlier run left
    hosts = Hosts(f"cgtest{os.getpid()}", names)
    try:
        hosts.open()
    except RuntimeError as error:  # e.g. a container without CAP_SYS_ADMIN
        missing_component(f"cannot create network namespaces here: {error}")
    with contextlib.closing(hosts):
        target = ManagedProcess(
            "countserver",
            hosts.run_in("srv", [sys.executable, "-m", "fixtures.deploy.countserver",
                                 "--port", str(TARGET_PORT), "--out", str(tmp / "counts.json")]),
            tmp / "countserver.log", env=env, cwd=REPO,
        )  # fmt: skip
        toxiproxy = ManagedProcess(
            "toxiproxy",
            hosts.run_in("srv", ["toxiproxy-server", "-host=127.0.0.1", "-port=8474"]),
            tmp / "toxiproxy.log",
        )
        try:
            target.start()
            toxiproxy.start()
            s = Site(hosts, tmp, ["w1", "w2"])
            wait_until(lambda: "serving" in (tmp / "countserver.log").read_text(),
                       what="count server", timeout_s=30)  # fmt: skip
            wait_until(lambda: _ok(s, "toxiproxy-cli", "-h", API, "list"), what="toxiproxy",
                       timeout_s=30)  # fmt: skip
            s.on_srv("toxiproxy-cli", "-h", API, "create", "-l", f"{hosts.ip('srv')}:{PROXY_PORT}",
                     "-u", f"127.0.0.1:{TARGET_PORT}", "client")  # fmt: skip
            yield s
        finally:
            toxiproxy.stop(5)
            target.stop(5)
    assert not [ns for ns in existing() if ns.startswith(f"cgtest{os.getpid()}-")]


def _ok(site: Site, *argv: str) -> bool:
    try:
        site.on_srv(*argv)
    except AssertionError:
        return False
    return True


def _per_worker(
    records: Path, fault_second: int | None, name: str | None = None
) -> dict[int, dict[str, Any]]:
    """Per worker: sent, and latency histograms before / during the fault (and all)."""
    out: dict[int, dict[str, Any]] = {}
    for line in records.read_text().splitlines():
        record = json.loads(line)
        if record.get("type") != "data":
            continue
        w = out.setdefault(record["worker"], {"sent": 0, "all": [], "before": [], "during": []})
        w["sent"] += record["sent"]
        for b in record["buckets"]:
            if name is not None and b["name"] != name:
                continue
            w["all"].append(b["histogram"])
            second = b["slice"] // SLICES_PER_S
            if fault_second is not None and second < fault_second - 1:
                w["before"].append(b["histogram"])
            elif fault_second is not None and second > fault_second:
                w["during"].append(b["histogram"])
    return out


def _ms(parts: list[str], percentile: float) -> float:
    return float(merge(parts).get_value_at_percentile(percentile)) / 1000


def _when_flowing(run: LoadRun, action: Any, after_s: float = 0.0) -> threading.Thread:
    """Run `action` once load records arrive (+ after_s), from a thread while run.wait() polls."""

    def watch() -> None:
        deadline = time.time() + 60
        while time.time() < deadline and run.latest_second() is None:
            time.sleep(0.05)
        time.sleep(after_s)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_distributed_load_crosses_hosts_and_every_worker_sees_the_fault(site: Site) -> None:
    plan = LoadPlan(users=["ping"], rate=[{"rps": 150, "hold_s": 10}], workers=2,
                    concurrency=40, drain_s=2, request_timeout_s=5)  # fmt: skip
    t0 = time.time()
    run = LoadRun(plan, site.base_url, t0, site.tmp / "run", progress=False,
                  python=site.shim("shim-run"))  # fmt: skip
    fault: dict[str, float] = {}
    peers: dict[str, str] = {}

    def inject() -> None:
        # who is connected to the target, seen from the target's own network stack: a few
        # listings over ~1 s (a worker's keep-alive connections can all be between requests)
        listings = []
        for _ in range(5):
            listings.append(
                site.on_srv("ss", "-Htn", "state", "established", f"( sport = :{PROXY_PORT} )")
            )
            time.sleep(0.2)  # the interval between listings
        peers["ss"] = "\n".join(listings)
        fault["at"] = time.time()
        site.on_srv("toxiproxy-cli", "-h", API, "toxic", "add", "-t", "latency",
                    "-a", f"latency={LATENCY_MS}", "client")  # fmt: skip

    served_before = _target_count(site)
    started = time.perf_counter()
    watcher = _when_flowing(run.start(), inject, after_s=3.0)
    outcome: LoadOutcome = run.wait()
    took = time.perf_counter() - started
    watcher.join(5)
    site.on_srv("toxiproxy-cli", "-h", API, "toxic", "remove", "-n", "latency_downstream", "client")
    assert "at" in fault, "the fault was never injected"

    fault_second = int(fault["at"] - t0) + 1
    workers = _per_worker(run.records, fault_second)
    health = outcome.generator
    sent = {w: v["sent"] for w, v in sorted(workers.items())}
    per_worker_p99 = {w: _ms(v["all"], 99) for w, v in sorted(workers.items())}
    before = {w: _ms(v["before"], 50) for w, v in sorted(workers.items())}
    during = {w: _ms(v["during"], 50) for w, v in sorted(workers.items())}
    merged_p99 = outcome.percentile_ms(99)
    print(
        f"\nnetns load: {took:.1f} s wall, sent per worker {sent}, merged {outcome.count()}, "
        f"achieved {health.achieved_rate:.0f} rps of {health.intended_rate:.0f}; "
        f"p99 per worker {per_worker_p99} vs merged {merged_p99:.1f} ms; p50 before fault "
        f"{before} during {during} ms; peers seen by the target:\n{peers.get('ss', '')}"
    )

    assert health.valid, health.reason
    assert set(workers) == {0, 1}
    assert all(n > 0 for n in sent.values())
    assert sum(sent.values()) == health.sent == outcome.count()
    # p99 of the merged histogram lies within the workers' own p99s (an exact merge, not an average)
    assert min(per_worker_p99.values()) <= merged_p99 <= max(per_worker_p99.values())
    for w in workers:  # the Toxiproxy fault shows in every worker's own histograms
        assert before[w] < LATENCY_MS, (w, before)
        assert during[w] >= LATENCY_MS, (w, during)
    # both worker hosts were connected to the target, from their own addresses
    hosts = site.hosts
    assert f"{hosts.ip('w1')}:" in peers["ss"]
    assert f"{hosts.ip('w2')}:" in peers["ss"]
    assert f"{hosts.ip('master')}:" not in peers["ss"]

    # what arrived equals what was sent, counted by the target itself
    assert _target_count(site) - served_before == outcome.count()


def _target_count(site: Site) -> int:
    url = f"http://127.0.0.1:{TARGET_PORT}/__counts"
    return int(json.loads(site.on_srv("curl", "-fsS", url))["by_path"].get("/ping", 0))


def test_a_worker_dying_mid_run_makes_the_run_invalid(site: Site) -> None:
    plan = LoadPlan(users=["ping"], rate=[{"rps": 100, "hold_s": 4}], workers=2,
                    concurrency=20, drain_s=1, request_timeout_s=5)  # fmt: skip
    run = LoadRun(plan, site.base_url, time.time(), site.tmp / "dead", progress=False,
                  python=site.shim("shim-dead"))  # fmt: skip
    _when_flowing(run.start(), lambda: run.processes[2].kill(), after_s=0.5)
    started = time.perf_counter()
    outcome = run.wait()
    print(
        f"\ndead worker: {time.perf_counter() - started:.1f} s, reason: {outcome.generator.reason}"
    )
    assert not outcome.generator.valid
    assert "ended without a final record" in (outcome.generator.reason or "")
    with pytest.raises(GeneratorBehind) as error:
        outcome.raise_if_invalid()
    assert error.value.exit_code == 3


@pytest.fixture
def sut(site: Site) -> Iterator[dict[str, Any]]:
    """The SUT stack (`chaosgate up --stack local`) on host srv, reachable from the LAN through
    one more proxy of its Toxiproxy, `lan`, listening on srv's address."""
    state_dir = site.tmp / "state"
    env = dict(os.environ, PYTHONPATH=str(REPO), CHAOSGATE_STATE_DIR=str(state_dir), COLUMNS="300")
    up = ManagedProcess(
        "chaosgate-up",
        site.hosts.run_in("srv", [sys.executable, "-m", "chaosgate", "up", "--stack", "local"]),
        site.tmp / "up.log", env=env, cwd=REPO,
    )  # fmt: skip
    try:
        up.start()
        state_file = state_dir / "up.json"
        wait_until(state_file.exists, what="chaosgate up on host srv", timeout_s=180)
        state: dict[str, Any] = json.loads(state_file.read_text())
        api = state["toxiproxy_url"].removeprefix("http://")
        site.on_srv("toxiproxy-cli", "-h", api, "create", "-l",
                    f"{site.hosts.ip('srv')}:{LAN_PORT}", "-u", state["direct"]["backend"], "lan")  # fmt: skip
        yield state | {"env": env}
    finally:
        up.stop(30)
    assert not state_dir.joinpath("up.json").exists(), up.log_tail()


LAN_PORT = 18001
PG_LATENCY_MS = 100


def test_the_sut_across_hosts_a_postgres_fault_shows_in_every_worker(
    site: Site, sut: dict[str, Any]
) -> None:
    plan = LoadPlan(users=["api"], rate=[{"rps": 60, "hold_s": 12}], workers=2, concurrency=30,
                    drain_s=2, request_timeout_s=5, tolerance_ms=50)  # fmt: skip
    t0 = time.time()
    url = f"http://{site.hosts.ip('srv')}:{LAN_PORT}"
    run = LoadRun(plan, url, t0, site.tmp / "sut-run", progress=False, python=site.shim("shim-sut"))
    fault: dict[str, float] = {}

    def inject() -> None:
        fault["at"] = time.time()
        site.on_srv(sys.executable, "-m", "chaosgate", "inject", "postgres", "latency",
                    f"latency_ms={PG_LATENCY_MS}", env=sut["env"])  # fmt: skip

    watcher = _when_flowing(run.start(), inject, after_s=4.0)
    outcome = run.wait()
    watcher.join(5)
    site.on_srv(sys.executable, "-m", "chaosgate", "heal", env=sut["env"])
    assert "at" in fault, "the fault was never injected"

    fault_second = int(fault["at"] - t0) + 1
    items = _per_worker(run.records, fault_second, name="GET /api/items")
    health = outcome.generator
    sent = {w: v["sent"] for w, v in sorted(_per_worker(run.records, None).items())}
    before = {w: _ms(v["before"], 50) for w, v in sorted(items.items())}
    during = {w: _ms(v["during"], 50) for w, v in sorted(items.items())}
    print(
        f"\nSUT across hosts: sent per worker {sent}, merged {outcome.count()} "
        f"({outcome.count() - sum(b.errors for b in outcome.series)} ok), "
        f"achieved {health.achieved_rate:.0f} rps; GET /api/items p50 before the Postgres fault "
        f"{before} during {during} ms; merged p99 {outcome.percentile_ms(99):.1f} ms"
    )
    logs = "\n".join(p.log_tail(15) for p in run.processes)
    assert health.valid, f"{health.reason}\n{logs}"
    assert set(sent) == {0, 1}
    assert sum(sent.values()) == health.sent == outcome.count()
    for w in items:  # the fault on the SUT's Postgres proxy shows in every worker
        assert before[w] < PG_LATENCY_MS, (w, before)
        assert during[w] >= PG_LATENCY_MS, (w, during)


def test_a_failed_set_up_removes_what_it_made() -> None:
    prefix = f"cgtest{os.getpid()}x"
    with pytest.raises(RuntimeError, match="File exists"):
        Hosts(prefix, ["a", "a"]).open()  # the second `ip netns add` fails
    assert not [ns for ns in existing() if ns.startswith(prefix)]


def test_sweep_removes_namespaces_of_a_dead_run() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs, as after a SIGKILLed pytest
    left = Hosts(f"cgtest{dead.pid}", ["a"]).open()  # not closed, as by a killed run
    try:
        assert f"cgtest{dead.pid}-a" in existing()
        assert sorted(sweep()) == [f"cgtest{dead.pid}-a", f"cgtest{dead.pid}-sw"]
        assert not [ns for ns in existing() if ns.startswith(f"cgtest{dead.pid}-")]
    finally:
        left.close()  # in case the pid was reused and sweep rightly kept them


def test_the_rendered_toxiproxy_config_loads_in_the_real_toxiproxy(tmp_path: Path) -> None:
    """The same file Compose mounts and the ConfigMap carries: toxiproxy-server 2.12 takes it
    (run in a namespace of its own, so its fixed ports clash with nothing on this machine)."""
    config = REPO / "fixtures/containers/compose/toxiproxy.json"
    expected = {p["name"]: p for p in json.loads(config.read_text())}
    with Hosts(f"cgtest{os.getpid()}t", ["tp"]) as hosts:
        server = ManagedProcess(
            "toxiproxy-config",
            hosts.run_in("tp", ["toxiproxy-server", "-host=127.0.0.1", "-port=8474",
                                f"-config={config}"]),
            tmp_path / "toxiproxy.log",
        )  # fmt: skip
        try:
            server.start()
            run = [
                "ip",
                "netns",
                "exec",
                hosts.ns("tp"),
                "curl",
                "-fsS",
                "http://127.0.0.1:8474/proxies",
            ]
            wait_until(lambda: subprocess.run(run, capture_output=True).returncode == 0,
                       what="toxiproxy API", timeout_s=20)  # fmt: skip
            proxies = json.loads(subprocess.run(run, capture_output=True, text=True).stdout)
        finally:
            server.stop(5)
    assert set(proxies) == set(PROXIES)
    for name, proxy in proxies.items():
        assert proxy["enabled"] is True
        assert proxy["upstream"] == expected[name]["upstream"]
        assert proxy["listen"].endswith(expected[name]["listen"].rpartition(":")[2])
