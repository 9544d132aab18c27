"""What each edge and process of the stack costs, sampled beside the probes (every ~0.5 s).

Series, and the counter each comes from:
  - `edge.<dep>.open`: established TCP connections whose far end is the proxy's listen port,
    from /proc/net/tcp and tcp6 (cheap: psutil.net_connections would scan every process's fds).
    Only for a proxy listening on this machine's loopback (a local stack or a local Toxiproxy).
    Every client of the proxy counts: on the reference stack the backend's pool (10) and the
    memory replicas' (2 x 10) share the Postgres edge, so 30 when idle.
  - `edge.<dep>.bytes_up` / `bytes_down`: Toxiproxy's `toxiproxy_proxy_received_bytes_total`
    with `direction="upstream"` (client -> dependency) / `"downstream"` (`-proxy-metrics`).
    Toxiproxy 2.12 adds a connection's bytes only when it CLOSES (measured): a pooled
    connection that stays open adds nothing until it is cut, so these are not per-request costs.
  - `proc.<process>.rss_mb` / `fds`: resident memory (MiB) and open file descriptors of a
    process the stack runs itself or names by pid file, with its descendants (psutil on /proc);
    for a container, its main process as the local engine's host pid (checked by its cgroup;
    a remote engine's containers: no series).
The calls a service makes on each dependency (`calls.<dep>`) are the service's own counter,
named by its signals profile (scenarios.probes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from fixtures.stack import DEPENDENCIES, Address, Stack

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_ESTABLISHED = "01"
_TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_RECEIVED = "toxiproxy_proxy_received_bytes_total"
_DIRECTION = {"upstream": "bytes_up", "downstream": "bytes_down"}
FAMILY_TTL_S = 5.0  # how long a process's list of descendants is reused


def established_to(ports: Iterable[int], tables: Iterable[Path] = _TCP_TABLES) -> dict[int, int]:
    """Established TCP connections per remote port (of `ports`), from the kernel's tables
    (a table line: `sl local_address rem_address st ...`, addresses as HEXIP:HEXPORT)."""
    hex_port = {f":{port:04X}": port for port in ports}
    wanted = dict.fromkeys(hex_port.values(), 0)
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split(None, 4)
            if len(fields) > 3 and fields[3] == _ESTABLISHED:
                port = hex_port.get(fields[2][-5:])
                if port is not None:
                    wanted[port] += 1
    return wanted


def toxiproxy_bytes(text: str, proxies: Iterable[str]) -> dict[str, float]:
    """`edge.<proxy>.bytes_up|bytes_down` from Toxiproxy's Prometheus text."""
    names, found = set(proxies), dict[str, float]()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != _RECEIVED:
                continue
            proxy, part = (
                sample.labels.get("proxy", ""),
                _DIRECTION.get(sample.labels.get("direction", "")),
            )
            if proxy in names and part:
                key = f"edge.{proxy}.{part}"
                found[key] = found.get(key, 0.0) + float(sample.value)
    return found


def container_pid(container: Any) -> int | None:
    """The host pid of a container's main process, when the engine runs on this machine: the
    pid's cgroup must name the container (a remote engine's pid means nothing here)."""
    try:
        container.reload()
        pid = int(container.attrs.get("State", {}).get("Pid") or 0)
        if pid and container.id in Path(f"/proc/{pid}/cgroup").read_text():
            return pid
    except Exception:  # docker's and the OS's errors alike: no series, never a dead thread
        return None
    return None


def process_of(control: object) -> psutil.Process | None:
    """The live process behind a stack control: one we started (`.process.pid`), one a pid
    file names (`._find()`), or a container's main process on a local engine (`.docker()` of
    ours, `._get()` of a target's); None otherwise."""
    managed = getattr(control, "process", None)
    pid = getattr(managed, "pid", None)
    try:
        if isinstance(pid, int):
            return psutil.Process(pid)
        find: Callable[[], tuple[psutil.Process | None, str]] | None = getattr(
            control, "_find", None
        )
        if find is not None:
            return find()[0]
        container = getattr(control, "docker", None) or getattr(control, "_get", None)
        found = container_pid(container()) if callable(container) else None
        return psutil.Process(found) if found else None
    except (psutil.Error, OSError):
        return None


def family(process: psutil.Process) -> list[psutil.Process] | None:
    """A process and its descendants (a scan of every pid: refreshed only now and then)."""
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return None


def process_usage(members: Iterable[psutil.Process]) -> tuple[float, float, float] | None:
    """(RSS MiB, open fds, CPU seconds used so far) summed over a process family; None when
    none of it is left. The CPU counter is what a rate of CPU (a capacity step's SUT CPU %)
    is read from: its change over a window."""
    rss, fds, cpu, seen = 0.0, 0.0, 0.0, False
    for member in members:
        try:
            with member.oneshot():
                rss += member.memory_info().rss / 2**20
                fds += member.num_fds()
                times = member.cpu_times()
            cpu += times.user + times.system
            seen = True
        except psutil.Error:
            continue  # a child that just exited, or one of another user's
    return (round(rss, 2), fds, round(cpu, 3)) if seen else None


class ResourceProbe:
    """One sample of every edge and process of a stack (`sample()` -> series -> value)."""

    def __init__(
        self,
        toxiproxy_url: str | None,
        edges: Mapping[str, Address],
        controls: Mapping[str, object],
        *,
        sockets_visible: bool = True,
    ) -> None:
        self.toxiproxy_url = toxiproxy_url
        self.edges = dict(edges)
        # sockets to a proxy are ours to see only when it listens on this machine's loopback
        self.local_edges = {
            n: a.port for n, a in self.edges.items() if sockets_visible and a.host in LOOPBACK
        }
        self.controls = dict(controls)
        self._families: dict[str, tuple[float, list[psutil.Process]]] = {}

    @classmethod
    def for_stack(cls, stack: Stack) -> ResourceProbe:
        edges = {name: stack.proxied(name) for name in stack.dependencies}
        local = stack.toxiproxy.address.host in LOOPBACK
        # the reference stack's dependencies and Toxiproxy are ours, not the service's: their
        # processes cost a sample tens of ms (Postgres has a process per connection)
        owned = stack.capabilities.owns_processes
        ours = set(DEPENDENCIES) | {"toxiproxy"} if owned else set()
        controls = {n: c for n, c in stack.controls.items() if n not in ours}
        return cls(stack.toxiproxy_url, edges, controls, sockets_visible=local)

    def _family(self, name: str, control: object) -> list[psutil.Process]:
        """The control's process family, kept for FAMILY_TTL_S while its main process runs
        (psutil checks the pid was not reused); looked up again after a restart."""
        known = self._families.get(name)
        if known and time.monotonic() - known[0] < FAMILY_TTL_S and known[1][0].is_running():
            return known[1]
        process = process_of(control)
        members = family(process) if process is not None else None
        if not members:
            self._families.pop(name, None)
            return []
        self._families[name] = (time.monotonic(), members)
        return members

    def sample(self, client: httpx.Client) -> dict[str, float]:
        found: dict[str, float] = {}
        by_port = established_to(self.local_edges.values())
        for name, port in self.local_edges.items():
            found[f"edge.{name}.open"] = float(by_port[port])
        if self.toxiproxy_url and self.edges:
            try:
                response = client.get(f"{self.toxiproxy_url.rstrip('/')}/metrics")
                response.raise_for_status()
                found.update(toxiproxy_bytes(response.text, self.edges))
            except (httpx.HTTPError, ValueError):
                pass  # no -proxy-metrics, or Toxiproxy busy: no byte series this sample
        for name, control in self.controls.items():
            usage = process_usage(self._family(name, control))
            if usage is not None:
                rss, fds, cpu = usage
                found[f"proc.{name}.rss_mb"], found[f"proc.{name}.fds"] = rss, fds
                found[f"proc.{name}.cpu_s"] = cpu
        return found
