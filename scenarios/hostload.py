"""A busy host is not a slow SUT: the CPU other work took while a scenario ran.

A thread samples, every `interval_s` (0.5 s), every process's CPU time from `/proc/<pid>/stat`
(utime + stime) and the machine's steal time from `/proc/stat`. A process is *own* when it is
in the harness's tree (this process and its descendants: load workers, a local stack, Toxiproxy)
or in the stack's (processes listening on the stack's ports, a target's declared `processes:`,
and their descendants); kernel threads are nobody's (on a loopback load they mostly carry the
run's own traffic). Everything else is *other* work. `windows()` gives, per judged window, the
other work's CPU + steal as % of one core averaged over the window.

The limit (`load.host_busy_percent`, default 25 % of one core): on a quiet machine of this kind
other work (sshd, journald, an idle Docker daemon) stays in single digits, while the release
gate's latency KPIs failed 5-80x over their quiet values with 1.5+ cores of other work (load
average 2.5 on 2 cores). A quarter core is well clear of the quiet floor and already takes an
eighth of a 2-core machine from a SUT that shares it with its own load generator.

Processes that live less than one interval are missed (their time goes to no pid we saw), so
the figure is a lower bound for bursts of short commands.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psutil

from reports.model import HostLoad, Phase, WindowLoad

if TYPE_CHECKING:
    from fixtures.stack import Stack

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PF_KTHREAD = 0x00200000
TOP = 8  # the busiest other processes kept in the result


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    name: str
    ticks: int  # utime + stime
    start: int  # starttime, ticks since boot: a pid reused is another process
    kernel: bool


def read_stat(pid: int, root: str = "/proc") -> ProcStat | None:
    try:
        with open(f"{root}/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:  # gone, or not ours to read
        return None
    name = text[text.find("(") + 1 : text.rfind(")")]
    fields = text[text.rfind(")") + 2 :].split()
    try:
        flags, utime, stime, start = (
            int(fields[6]),
            int(fields[11]),
            int(fields[12]),
            int(fields[19]),
        )
        return ProcStat(pid, int(fields[1]), name, utime + stime, start, bool(flags & PF_KTHREAD))
    except (IndexError, ValueError):
        return None


def scan(root: str = "/proc") -> dict[int, ProcStat]:
    out: dict[int, ProcStat] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir(root):
            if entry.isdigit() and (stat := read_stat(int(entry), root)) is not None:
                out[stat.pid] = stat
    return out


def steal_ticks(root: str = "/proc") -> int:
    """Cumulative steal time of all CPUs (the 8th value of /proc/stat's `cpu` line)."""
    try:
        with open(f"{root}/stat", encoding="ascii") as handle:
            first = handle.readline().split()
        return int(first[8]) if first and first[0] == "cpu" and len(first) > 8 else 0
    except (OSError, ValueError):
        return 0


def descendants(roots: Iterable[int], procs: dict[int, ProcStat]) -> set[int]:
    """The roots (those alive) and every process below them."""
    children: dict[int, list[int]] = {}
    for stat in procs.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    seen: set[int] = set()
    todo = [pid for pid in roots if pid in procs]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, ()))
    return seen


def listening_pids(ports: Iterable[int]) -> set[int]:
    """Processes listening on any of these TCP ports (the stack's services)."""
    wanted = set(ports)
    if not wanted:
        return set()
    try:
        connections = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return set()
    return {
        c.pid
        for c in connections
        if c.pid and c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port in wanted
    }


@dataclass(frozen=True)
class Sample:
    start_s: float  # scenario seconds
    end_s: float
    other_s: float  # CPU-seconds of other processes in the interval
    steal_s: float


@dataclass
class HostSampler:
    """Samples other work in a thread between `start()` and `stop()`. `stack_pids()` names the
    stack's processes (re-asked every `refresh_s`: a restarted service has a new pid)."""

    t0: float
    stack_pids: Callable[[], set[int]] = set
    interval_s: float = 0.5
    refresh_s: float = 5.0
    root: str = "/proc"
    samples: list[Sample] = field(default_factory=list)
    by_name: dict[str, float] = field(default_factory=dict)  # other CPU-seconds per name
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> HostSampler:
        self._thread = threading.Thread(target=self._run, name="hostload", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HostSampler:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        stack: set[int] = set()
        refreshed = -1e9
        last_procs = scan(self.root)
        last_steal, last_at = steal_ticks(self.root), time.time()
        while not self._stop.wait(self.interval_s):
            if time.monotonic() - refreshed >= self.refresh_s:
                with contextlib.suppress(Exception):  # a probe failing must not end sampling
                    stack = set(self.stack_pids())
                refreshed = time.monotonic()
            procs, steal, now = scan(self.root), steal_ticks(self.root), time.time()
            own = descendants({os.getpid(), *stack}, procs)
            other = 0
            for pid, stat in procs.items():
                if pid in own or stat.kernel:
                    continue
                before = last_procs.get(pid)
                if before is not None and before.start == stat.start:
                    delta = stat.ticks - before.ticks
                elif stat.start >= _boot_ticks(last_at):
                    delta = stat.ticks  # started since the last sample: all of it is new
                else:
                    delta = 0  # unseen before for another reason (unreadable): no guess
                if delta > 0:
                    other += delta
                    self.by_name[stat.name] = self.by_name.get(stat.name, 0.0) + delta / CLK_TCK
            self.samples.append(
                Sample(
                    last_at - self.t0,
                    now - self.t0,
                    other / CLK_TCK,
                    max(steal - last_steal, 0) / CLK_TCK,
                )
            )
            last_procs, last_steal, last_at = procs, steal, now

    def window(self, start_s: float, end_s: float) -> tuple[float, float]:
        """(other incl. steal, steal) in % of one core, averaged over [start_s, end_s)."""
        return window_percent(self.samples, start_s, end_s)

    def result(self, phases: Sequence[Phase], limit_percent: float) -> HostLoad:
        """Per judged window (warm-up excluded) its figure; the busiest other processes."""
        windows = []
        for phase in phases:
            if phase.kind == "warmup" or phase.end_s <= phase.start_s:
                continue
            other, steal = self.window(phase.start_s, phase.end_s)
            windows.append(
                WindowLoad(
                    window=phase.name,
                    start_s=phase.start_s,
                    end_s=phase.end_s,
                    other_percent=round(other, 1),
                    steal_percent=round(steal, 1),
                    busy=other > limit_percent,
                )
            )
        span = sum(s.end_s - s.start_s for s in self.samples) or 1.0
        top = sorted(self.by_name.items(), key=lambda item: -item[1])[:TOP]
        return HostLoad(
            limit_percent=limit_percent,
            windows=windows,
            top={name: round(seconds / span * 100, 1) for name, seconds in top},
        )


def window_percent(samples: Sequence[Sample], start_s: float, end_s: float) -> tuple[float, float]:
    """Each sample's CPU prorated by its overlap with the window; % of one core."""
    if end_s <= start_s:
        return 0.0, 0.0
    other = steal = covered = 0.0
    for sample in samples:
        overlap = min(sample.end_s, end_s) - max(sample.start_s, start_s)
        length = sample.end_s - sample.start_s
        if overlap <= 0 or length <= 0:
            continue
        share = overlap / length
        other += (sample.other_s + sample.steal_s) * share
        steal += sample.steal_s * share
        covered += overlap
    if covered <= 0:
        return 0.0, 0.0
    return other / covered * 100, steal / covered * 100


_BOOT: list[float] = []


def _boot_ticks(at: float) -> float:
    """Unix time `at` in ticks since boot (/proc/<pid>/stat's starttime unit)."""
    if not _BOOT:
        _BOOT.append(psutil.boot_time())
    return (at - _BOOT[0]) * CLK_TCK


def stack_pid_finder(stack: Stack) -> Callable[[], set[int]]:
    """The stack's processes: what listens on its services', proxies' and Toxiproxy's ports
    (an external target's service found by its port), and its controls' processes (a target's
    declared `processes:`). Their descendants count too (see HostSampler). Read when asked
    (the sampler's thread, every `refresh_s`): a restarted service listens under a new pid."""

    def find() -> set[int]:
        ports = {address.port for address in stack.direct.values()}
        ports |= {edge.listen.port for edge in stack.proxies.values()}
        for url in (stack.toxiproxy_url, stack.sut_url, stack.sut_direct_url):
            with contextlib.suppress(ValueError):
                port = urlsplit(url).port
                ports |= {port} if port else set()
        controls = {pid for c in stack.controls.values() if (pid := control_pid(c))}
        return listening_pids(ports) | controls

    return find


def control_pid(control: object) -> int | None:
    """The pid behind a control, where it exposes one (a command we started, a pid file, a
    container's init process); None otherwise."""
    with contextlib.suppress(Exception):
        popen = getattr(getattr(control, "process", None), "popen", None)
        if popen is not None:
            return int(popen.pid)
        find = getattr(control, "_find", None)  # PidFileControl: the live pid the file names
        if find is not None:
            process, _ = find()
            return int(process.pid) if process is not None else None
        get = getattr(control, "_get", None)  # ContainerControl: its init process on the host
        if get is not None and (container := get()) is not None:
            return int(container.attrs["State"]["Pid"]) or None
    return None
