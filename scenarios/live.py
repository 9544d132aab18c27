"""`chaosgate load`: open-model load on a running stack with a live view, until Ctrl-C.

    chaosgate load --rate 50 --users api,dashboard           # against the running `chaosgate up`
    chaosgate load --url http://127.0.0.1:8000 --duration 60s

The load is the scenario engine's (`LoadRun` with a `LoadPlan`); the view reads the same
collector each refresh, the proxies of the `up` stack's Toxiproxy and the SUT's probes. Every
change of the proxies seen while it runs becomes a stamped event, so `inject`/`heal` from another
terminal land in the `result.json` written at the end (`chaosgate report` renders it).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx

from chaosgate.errors import ChaosgateError
from chaosgate.settings import HarnessSettings
from fixtures.signals import SignalsProfile, reference_signals
from fixtures.toxiproxy import ToxiproxyAdapter
from reports.model import Event, Phase, ProbeSample
from reports.model import Target as RunTarget
from reports.windows import fault_window, recovery_window
from scenarios.live_view import BREAKER_STATES, Snapshot, active_faults, endpoint_rows
from scenarios.load.collect import SecondView
from scenarios.load.run import LoadOutcome, LoadRun
from scenarios.probes import Probes

TREND_S = 10


@dataclass(frozen=True)
class Target:
    sut_url: str  # where the load goes
    probe_url: str  # where readiness and /metrics are read (the SUT without the client proxy)
    toxiproxy_url: str | None
    backend: str = "external"  # the `up` stack's backend; a bare --url is someone else's
    # where the service says how it is (probes read it); the reference SUT's unless told
    signals: SignalsProfile | None = field(default_factory=reference_signals)

    def identity(self) -> RunTarget:
        """What the record names as the service driven (`RunResult.target`, as `run` does)."""
        return RunTarget.model_validate({"url": self.probe_url, "stack": self.backend})


def resolve_target(url: str | None, toxiproxy: str | None, settings: HarnessSettings) -> Target:
    """An explicit --url, else the running `chaosgate up` (its state file)."""
    from fixtures.up_state import read_state, require_state

    if url is not None:
        state = read_state(settings.state_dir)
        found = toxiproxy or (state.toxiproxy_url if state is not None else None)
        return Target(url.rstrip("/"), url.rstrip("/"), found)
    state = require_state(settings.state_dir)
    direct = state.direct.get("backend")
    probe = f"http://{direct}" if direct else state.sut_url
    return Target(state.sut_url, probe, toxiproxy or state.toxiproxy_url, state.backend)


def exposes_readiness(probe_url: str, signals: SignalsProfile | None, timeout_s: float) -> bool:
    """A service without the readiness URL its profile names (404) is not probed, nor one
    without a profile; one that does not answer yet is."""
    url = signals.ready_url(probe_url) if signals is not None else None
    if url is None:
        return signals is not None  # a profile of metrics only: probed, nothing to ask first
    try:
        return httpx.get(url, timeout=timeout_s).status_code != 404
    except httpx.HTTPError:
        return True


class FaultWatch:
    """Reads the proxies each refresh; what appeared or went away becomes a stamped event."""

    def __init__(self, adapter: ToxiproxyAdapter, t0: float) -> None:
        self.adapter, self.t0 = adapter, t0
        self.current: dict[str, str] = {}
        self.events: list[Event] = []
        self.error: str | None = None

    def poll(self) -> dict[str, str] | None:
        try:
            seen = active_faults(self.adapter.proxies())
        except ChaosgateError as error:
            self.error = f"Toxiproxy unreadable: {error}"
            return None
        self.error = None
        t_s = round(time.time() - self.t0, 3)
        for key in sorted(seen.keys() - self.current.keys()):
            self.events.append(_event(t_s, "fault.inject", key, seen[key]))
        for key in sorted(self.current.keys() - seen.keys()):
            self.events.append(_event(t_s, "fault.remove", key, self.current[key]))
        self.current = seen
        return seen


def _event(t_s: float, kind: str, key: str, description: str) -> Event:
    proxy, _, toxic = key.partition("/")
    return Event(t_s=t_s, kind=kind, target=proxy, message=description,
                 attributes={"fault": key.replace("/", "-"), "toxic": toxic})  # fmt: skip


def fault_phases(events: list[Event], end_s: float) -> list[Phase]:
    """Baseline up to the first injection, then per fault seen: fault and recovery phases."""
    spans: list[tuple[float, float, str]] = []
    open_at: dict[str, float] = {}
    used: dict[str, int] = {}
    for event in events:
        key = str(event.attributes.get("fault"))
        if event.kind == "fault.inject":
            open_at[key] = event.t_s
        elif event.kind == "fault.remove" and key in open_at:
            spans.append((open_at.pop(key), event.t_s, key))
    spans += [(start, end_s, key) for key, start in open_at.items()]
    spans.sort()
    first = spans[0][0] if spans else end_s
    phases = [Phase(name="baseline", kind="baseline", start_s=0.0, end_s=first)]
    for index, (start, end, key) in enumerate(spans):
        used[key] = used.get(key, 0) + 1
        name = key if used[key] == 1 else f"{key}-{used[key]}"
        phases.append(
            Phase(name=fault_window(name), kind="fault", start_s=start, end_s=end, fault=name)
        )
        after = spans[index + 1][0] if index + 1 < len(spans) else end_s
        if end < end_s:
            phases.append(Phase(name=recovery_window(name), kind="recovery", start_s=end,
                                end_s=max(after, end), fault=name))  # fmt: skip
    return phases


class LiveLoad:
    """One `chaosgate load` session: start the engine, refresh a snapshot, stop, hand back."""

    def __init__(self, run: LoadRun, target: Target, settings: HarnessSettings) -> None:
        self.run, self.target, self.t0 = run, target, run.t0
        timeout = settings.timeouts.toxiproxy_api_s
        self.adapter = (
            ToxiproxyAdapter(target.toxiproxy_url, timeout) if target.toxiproxy_url else None
        )
        self.watch = FaultWatch(self.adapter, self.t0) if self.adapter else None
        probe_timeout = min(settings.timeouts.http_s, 2.0)
        self.probes = (
            Probes(target.probe_url, self.t0, timeout_s=probe_timeout, signals=target.signals)
            if exposes_readiness(target.probe_url, target.signals, probe_timeout)
            else None
        )
        self._views: dict[int, SecondView] = {}  # whole seconds that no longer change
        self.planned_s: float | None = None  # the load's duration, for the ETA (None: Ctrl-C)
        self.interrupted = False
        self.stopped_by: str | None = None  # "Ctrl-C", "SIGTERM", "the Locust web UI's Stop"
        # polled each refresh: a reason when the user stopped the run elsewhere (the web UI)
        self.stop_requested: Callable[[], str | None] | None = None

    def snapshot(self) -> Snapshot:
        complete = self.run.latest_second()  # polls the workers' records
        seconds = self.run.collector.seconds()
        latest = complete
        if seconds and (complete is None or seconds[-1] > complete.second):
            latest = self.run.collector.view(seconds[-1])
        now_s = int(time.time() - self.t0)
        trend = [self._view(s) for s in range(now_s - TREND_S, now_s) if s >= 0]
        faults = self.watch.poll() if self.watch else None
        ready, breakers = self._state()
        note = self.watch.error if self.watch and self.watch.error else ""
        return Snapshot(
            elapsed_s=time.time() - self.t0,
            target=self.target.sut_url,
            second=latest.second if latest else None,
            endpoints=endpoint_rows(latest, complete, trend),
            faults=faults if self.watch is None or faults is not None else dict(self.watch.current),
            ready=ready,
            probed=self.probes is not None,
            breakers=breakers,
            note=note,
            planned_s=self.planned_s,
        )

    def _view(self, second: int) -> SecondView:
        if second in self._views:
            return self._views[second]
        view = self.run.collector.view(second)
        if second < time.time() - self.t0 - 3:  # its sends are back: it no longer changes
            self._views = {s: v for s, v in self._views.items() if s > second - TREND_S}
            self._views[second] = view
        return view

    def _state(self) -> tuple[bool | None, dict[str, str]]:
        if self.probes is None:
            return None, {}
        latest: dict[str, ProbeSample] = {}
        for sample in self.probes.samples[-60:]:  # the newest probe round is in there
            latest[sample.name] = sample
        ready = None if "ready" not in latest else latest["ready"].value == 1.0
        breakers = {
            name.removeprefix("breaker."): BREAKER_STATES.get(float(s.value), str(s.value))
            for name, s in latest.items()
            if name.startswith("breaker.") and isinstance(s.value, float)
        }
        return ready, breakers

    def loop(
        self,
        show: Callable[[Snapshot], None],
        refresh_s: float,
        tick: Callable[[], None] | None = None,
    ) -> LoadOutcome:
        """Until the plan ends or Ctrl-C; the workers always stopped, the outcome returned.
        `tick` runs after each refresh (the checkpoint of a long run's record)."""
        with self.probes if self.probes is not None else contextlib.nullcontext():
            self.run.start()
            try:
                while any(p.is_running() for p in self.run.processes):
                    started = time.monotonic()
                    show(self.snapshot())
                    if tick is not None:
                        tick()
                    if self.stop_requested is not None and (why := self.stop_requested()):
                        self.interrupted, self.stopped_by = True, why
                        break
                    time.sleep(max(0.0, refresh_s - (time.monotonic() - started)))
                show(self.snapshot())
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (scenarios.stop_signals)
                self.interrupted = True
                self.stopped_by = self.stopped_by or "Ctrl-C"
            finally:
                if any(p.is_running() for p in self.run.processes):
                    self.run.stop()
                if self.watch is not None:
                    self.watch.poll()  # a heal just before Ctrl-C still counts
            if self.adapter is not None:
                self.adapter.close()
            return self.run.result()

    def toxiproxy_version(self) -> str:
        """The Toxiproxy watched, for the record's versions; "" when none or unreadable."""
        if self.adapter is None:
            return ""
        try:
            return self.adapter.version()
        except ChaosgateError:
            return ""

    @property
    def events(self) -> list[Event]:
        return list(self.watch.events) if self.watch else []

    @property
    def probe_samples(self) -> list[ProbeSample]:
        return self.probes.snapshot() if self.probes else []


@contextlib.contextmanager
def display(live: bool) -> Iterator[Callable[[Snapshot], None]]:
    """A rich Live view on a terminal; one plain line every 5 s otherwise (CI logs)."""
    from rich.console import Console
    from rich.live import Live

    from scenarios.live_view import plain, render

    if not live:
        last = [0.0]

        def log(snapshot: Snapshot) -> None:
            if time.monotonic() - last[0] >= 5.0:
                last[0] = time.monotonic()
                print(plain(snapshot), flush=True)

        yield log
        return
    with Live(console=Console(), auto_refresh=False, transient=False) as view:

        def update(snapshot: Snapshot) -> None:
            view.update(render(snapshot), refresh=True)

        yield update
