"""`LoadRun`: runs a LoadPlan in Locust worker process(es), merges their records.

Nothing of Locust or gevent is imported here: the workers are `python -m scenarios.load.worker`
subprocesses, started and stopped by PID (chaosgate.processes.ManagedProcess).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chaosgate.errors import GeneratorBehind, RunInvalid
from chaosgate.processes import ManagedProcess, free_port
from chaosgate.settings import Timeouts
from reports.hdr import merge, new_histogram
from reports.model import GeneratorHealth, SliceBucket, UserSetup, WebSocketSummary
from scenarios.load.collect import Collector, SecondView
from scenarios.load.plan import LoadPlan
from scenarios.load.progress import Progress
from scenarios.load.setup_phase import FINAL_MARGIN_S, SetupWatch
from scenarios.load.wscheck import check_history
from scenarios.slots_verdict import SLOTS_PROBLEM

REPO_ROOT = Path(__file__).resolve().parents[2]
LATE_SENDS_IGNORED = 2


@dataclass
class LoadOutcome:
    series: list[SliceBucket]
    generator: GeneratorHealth
    websocket: WebSocketSummary | None
    duration_s: float
    service_time: dict[str, str] = field(default_factory=dict)  # closed-loop view, per name
    aborted: bool = False
    started_at: float | None = None  # Unix time the schedule began (load starts ~1 s after start())
    cpu_percent_median: float = 0.0  # of the worker processes' per-second samples

    @property
    def cpu_us_per_request(self) -> float:
        """Worker CPU per request (µs): capacity per core ~ 1e6 / this, whatever the machine load."""
        rate = self.generator.achieved_rate / self.generator.workers
        return self.cpu_percent_median / 100 / rate * 1e6 if rate else 0.0

    def percentile_ms(self, percentile: float, name: str | None = None) -> float:
        """Latency from the intended start, over the whole run (or one request name)."""
        parts = [b.histogram for b in self.series if name is None or b.name == name]
        return float(merge(parts).get_value_at_percentile(percentile)) / 1000

    def max_ms(self, name: str | None = None) -> float:
        parts = [b.histogram for b in self.series if name is None or b.name == name]
        return float(merge(parts).get_max_value()) / 1000

    def count(self, name: str | None = None) -> int:
        return sum(b.count for b in self.series if name is None or b.name == name)

    def invalid_reasons(self) -> list[str]:
        return load_reasons(self.generator)

    def raise_if_invalid(self) -> None:
        if not self.generator.valid:
            raise GeneratorBehind(
                f"load generator could not hold its schedule: {self.generator.reason}"
            )
        if self.generator.load_problems:
            raise RunInvalid("; ".join(self.generator.load_problems))


def load_reasons(generator: GeneratorHealth) -> list[str]:
    """Why a load is no evidence: the generator behind, too few slots, a user class that could
    not set itself up (empty: the load ran as declared)."""
    behind = [] if generator.valid else [invalid_reason(generator)]
    return behind + list(generator.load_problems)


# what the load's own failures say (a class that raised, a worker gone): not the generator
# falling behind its schedule, and not to be reported as if it were
_BROKE = ("raised", "without a final record", "exited with code", "set-up", "nothing was", "failed")


def invalid_reason(generator: GeneratorHealth) -> str:
    """Why a load's result is no evidence, with the right head: the generator fell behind its
    schedule (late sends, CPU), or the load could not run as planned (a user class crash)."""
    reason = generator.reason or "no reason recorded"
    if any(word in reason for word in _BROKE):
        return f"load could not run as planned: {reason}"
    return f"load generator behind: {reason}"


class LoadRun:
    def __init__(
        self,
        plan: LoadPlan,
        base_url: str,
        t0: float,
        out_dir: Path,
        *,
        progress: bool = True,
        python: str = sys.executable,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.plan, self.base_url, self.t0 = plan, base_url.rstrip("/"), t0
        # absolute: the workers run with another cwd (a relative --out failed them)
        self.out_dir = Path(out_dir).absolute()
        self.python = python
        # the caller's resolved settings (chaosgate.cli.settings_options); a library caller
        # that passes none gets the built-in defaults: nothing here reads settings again
        self.timeouts = timeouts or Timeouts()
        self.records = self.out_dir / "load-records.jsonl"
        self.collector = Collector(self.records)
        self.collector.t0 = t0
        self.progress = Progress(plan.total_s, enabled=progress)
        self.processes: list[ManagedProcess] = []
        self._started_at: float | None = None
        self._aborted = False
        self._outcome: LoadOutcome | None = None
        self._setup_printed = 0
        self._schedule_seen_at: float | None = None  # the first flush: the schedule runs
        # ids of WebSocket messages the server originated (posted by a scenario step): received,
        # they are expected, not "unexpected"
        self.server_message_ids: set[str] = set()

    def expect_server_messages(self, ids: Iterable[str]) -> None:
        """Declare server-originated WebSocket message ids (call before `result()`)."""
        if self._outcome is not None:
            raise RunInvalid("expect_server_messages() after the result was computed")
        self.server_message_ids.update(ids)

    def _process(self, name: str, *args: str) -> ManagedProcess:
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        )
        argv = [self.python, "-m", "scenarios.load.worker", *args]
        return ManagedProcess(name, argv, self.out_dir / f"{name}.log", env=env, cwd=REPO_ROOT)

    def start(self) -> LoadRun:
        if self._started_at is not None:
            raise RunInvalid("this LoadRun was already started")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.records.unlink(missing_ok=True)
        plan_file = self.out_dir / "load-plan.json"
        plan_file.write_text(self.plan.model_dump_json(indent=2))
        common = [
            "--plan",
            str(plan_file),
            "--out",
            str(self.records),
            "--t0",
            repr(self.t0),
            "--base-url",
            self.base_url,
            "--connect-timeout-s",  # also the users' set-up (on_start) deadline
            str(self.timeouts.startup_s),
        ]
        if self.plan.workers == 1:
            self.processes = [self._process("load-local", "--role", "local", *common)]
        else:
            port = free_port()
            master = self._process(
                "load-master",
                "--role",
                "master",
                *common,
                "--master-port",
                str(port),
                "--expect-workers",
                str(self.plan.workers),
            )
            workers = [
                self._process(f"load-worker-{i}", "--role", "worker", "--master-port", str(port))
                for i in range(self.plan.workers)
            ]
            self.processes = [master, *workers]
        self._started_at = time.time()
        for process in self.processes:
            process.start()
        return self

    def failure(self) -> str | None:
        """Why the load cannot run as planned, as soon as it is known (None: no sign of it):
        a worker's fatal error (a class that does not load, a set-up that raised), a user
        class raising while nothing at all was sent for a flush after, or a worker that
        exited with an error. Each with its own message and the log to read."""
        self.collector.poll()
        c = self.collector
        log = self.processes[0].log_path if self.processes else self.out_dir
        if c.fatal:
            return f"{c.fatal[0]} (log: {log})"
        if c.sent == 0 and any(c.flushes > seen for seen, _ in c.user_errors):
            return f"{c.user_errors[0][1]}; nothing was sent (log: {log})"
        for process in self.processes:
            code = process.popen.poll() if process.popen is not None else None
            if code:
                return f"load process {process.name} exited with code {code}\n{process.log_tail(8)}"
        return None

    def _deadline(self) -> float:
        """The set-up phase may outlast the start-up timeout while it progresses (the workers
        fail it themselves when it stalls: worker.SetupWatch); once the schedule runs (the first
        flush), the plan plus its drain and the final flush's margin from there."""
        assert self._started_at is not None
        plan_s = self.plan.total_s + self.plan.drain_s
        if self._schedule_seen_at is None and self.collector.flushes > 0:
            self._schedule_seen_at = time.time()
        if self._schedule_seen_at is None:
            return self._started_at + SetupWatch.CAP * self.timeouts.startup_s + plan_s
        return max(
            self._started_at + self.timeouts.startup_s + plan_s,
            self._schedule_seen_at + plan_s + FINAL_MARGIN_S,
        )

    def wait(self, timeout_s: float | None = None) -> LoadOutcome:
        """Until the plan is done (or `timeout_s`, then abort); always bounded."""
        if self._started_at is None:
            raise RunInvalid("LoadRun.wait() before start()")
        until = time.time() + (timeout_s if timeout_s is not None else 1e9)
        try:
            while any(p.is_running() for p in self.processes) and time.time() < min(
                self._deadline(), until
            ):
                self.collector.poll()
                self.progress.update(time.time() - self._started_at, self.latest_second())
                time.sleep(self.timeouts.poll_interval_s * 4)
        finally:
            self.progress.close()
        if any(p.is_running() for p in self.processes):
            return self.stop()
        return self.result()

    def _print_setup(self) -> None:
        """The mixes' set-up (log-in) time, as soon as the workers report it (even without a
        progress line: a slow log-in is what makes a run's start late)."""
        for line in self.collector.mix_setup[self._setup_printed :]:
            print(line, flush=True)
        self._setup_printed = len(self.collector.mix_setup)

    def stop(self) -> LoadOutcome:
        """Abort: workers stop sending, wait for their requests in flight (up to the plan's
        stop drain, the request timeout by default), record the rest as errors, ship, exit.
        SIGKILL only past that drain + teardown_s: bounded, and never before the drain."""
        self._aborted = True
        grace = self.plan.stop_drain + self.timeouts.teardown_s
        master_first = self.processes[:1] if self.plan.workers > 1 else []
        for process in master_first + self.processes[len(master_first) :]:
            process.stop(grace)
        self.progress.close()
        return self.result()

    def latest_second(self) -> SecondView | None:
        """The newest second that is (nearly) complete: the one before the current second."""
        self.collector.poll()
        self._print_setup()
        seconds = [s for s in self.collector.seconds() if s <= int(time.time() - self.t0) - 1]
        return self.collector.view(seconds[-1]) if seconds else None

    def result(self) -> LoadOutcome:
        if self._outcome is not None:
            return self._outcome
        if any(p.is_running() for p in self.processes):
            raise RunInvalid("LoadRun.result() while workers still run: wait() or stop() first")
        self.collector.poll()
        assert self._started_at is not None
        duration = time.time() - self._started_at
        ws = (
            check_history(self.collector.ws_events, server_ids=self.server_message_ids)
            if self.plan.websocket_clients
            else None
        )
        self._outcome = LoadOutcome(
            series=self.collector.series(),
            generator=self._health(),
            websocket=ws,
            duration_s=duration,
            service_time=self.collector.service_histograms(),
            aborted=self._aborted,
            started_at=self.collector.start_at,
            # the first second of each worker left out, unless it is its only one (a 2 s run
            # whose second flush came after the last user finished: 0 % CPU is no figure)
            cpu_percent_median=statistics.median(
                [x for s in self.collector.cpu_samples.values() for x in s[1:] or s] or [0.0]
            ),
        )
        return self._outcome

    def _health(self) -> GeneratorHealth:
        c, plan = self.collector, self.plan
        reasons = list(c.errors)
        missing = plan.workers - len(c.finals)
        if missing > 0:
            tails = "\n".join(
                p.log_tail(8) for p in self.processes if p.popen and p.popen.returncode
            )
            reasons.append(
                f"{missing} load worker(s) ended without a final record\n{tails}".strip()
            )
        scheduled = max(sum(c.finals.values()), c.sent)
        # sends that waited for a free user while every user waited on the SUT: the SUT's
        # latency (counted from the intended send), judged by the KPIs, not the generator's
        starved = c.starved + min(c.unsent_starved, scheduled - c.sent)
        # a task that returned without a request was handed its ticket on time: not late
        quiet = min(sum(c.no_request.values()), scheduled - c.sent)
        unsent = scheduled - c.sent - min(c.unsent_starved, scheduled - c.sent) - quiet
        unsent = max(unsent, 0)
        lag = c.lag()
        late_fraction = (c.late + unsent) / scheduled if scheduled else 0.0
        if scheduled == 0:
            reasons.append("nothing was scheduled or sent")
        # a couple of late sends in a tiny run are noise, not a generator that fell behind
        if c.late + unsent > max(plan.late_fraction_max * scheduled, LATE_SENDS_IGNORED):
            reasons.append(
                f"{late_fraction:.1%} of sends started more than {plan.tolerance_ms:g} ms late or "
                f"never while a user was free or the generator's CPU was saturated ({unsent} "
                f"unsent; allowed {plan.late_fraction_max:.1%}); max lag "
                f"{lag.get_max_value() / 1000:.0f} ms"
            )
        medians = {w: statistics.median(s) for w, s in c.cpu_samples.items() if s}
        busy = {w: m for w, m in medians.items() if m >= plan.cpu_limit_percent}
        if busy:
            reasons.append(
                f"generator CPU saturated: median {max(busy.values()):.0f}% "
                f"(limit {plan.cpu_limit_percent:g}%) in worker(s) {sorted(busy)}"
            )
        if reasons and c.user_errors:  # what the user's class raised explains unsent sends
            reasons.extend(message for _, message in c.user_errors[:3])
        span = (
            min(plan.total_s, max(time.time() - self.t0, 1e-9)) if self._aborted else plan.total_s
        )
        setup = self._setup()
        problems = [
            p for p in [_setup_problem(setup), self._slots_problem(starved, scheduled)] if p
        ]
        return GeneratorHealth(
            intended_rate=scheduled / span,
            achieved_rate=c.sent / span,
            scheduled=scheduled,
            sent=c.sent,
            max_lag_ms=lag.get_max_value() / 1000,
            p99_lag_ms=lag.get_value_at_percentile(99) / 1000,
            late_fraction=min(late_fraction, 1.0),
            slot_starved=starved,
            slot_starved_fraction=min(starved / scheduled, 1.0) if scheduled else 0.0,
            tolerance_ms=plan.tolerance_ms,
            cpu_percent_max=max((max(s) for s in c.cpu_samples.values() if s), default=0.0),
            workers=plan.workers,
            rss_mb_max=c.rss_mb_max,
            mix_setup=list(c.mix_setup),
            valid=not reasons,
            reason="; ".join(reasons) or None,
            setup=setup,
            slots=plan.slots or None,
            slots_needed=self._slots_needed(),
            service_p50_ms=self._service_p50_ms(),
            load_problems=problems,
        )

    def _setup(self) -> dict[str, UserSetup]:
        c = self.collector
        names = sorted({*c.setup, *c.no_request, *c.missing})
        return {
            name: UserSetup(
                **c.setup.get(name, {}),
                missing=c.missing.get(name, {}),
                no_request=c.no_request.get(name, 0),
            )
            for name in names
        }

    def _median_service_s(self) -> float | None:
        """The SUT's own median service time over the HTTP requests (from their real start:
        what a closed loop would see), None when nothing was measured."""
        merged = new_histogram()
        for name, histogram in self.collector.service.items():
            if not name.startswith("WS "):
                merged.add(histogram)
        if merged.get_total_count() == 0:
            return None
        return float(merged.get_value_at_percentile(50)) / 1e6

    def _service_p50_ms(self) -> dict[str, float]:
        """Per HTTP request name, and "*" over them all: the SUT's median service time."""
        merged = new_histogram()
        medians: dict[str, float] = {}
        for name, histogram in self.collector.service.items():
            if name.startswith("WS ") or histogram.get_total_count() == 0:
                continue
            merged.add(histogram)
            medians[name] = round(histogram.get_value_at_percentile(50) / 1000, 3)
        if merged.get_total_count():
            medians["*"] = round(merged.get_value_at_percentile(50) / 1000, 3)
        return medians

    def _slots_needed(self) -> int | None:
        median = self._median_service_s()
        if median is None or not self.plan.slots:
            return None
        return math.ceil(self.plan.peak_rps * median)

    def _slots_problem(self, starved: int, scheduled: int) -> str | None:
        """Little's law: the peak rate times the SUT's own median service time is the number of
        requests in flight a healthy run holds. When sends starved for a slot beyond the late
        allowance AND that number exceeds the slots, the harness was given too few slots for
        this SUT: its queue, not the SUT, made the latency (INVALID, not FAIL)."""
        plan = self.plan
        allowance = max(plan.late_fraction_max * scheduled, LATE_SENDS_IGNORED)
        needed = self._slots_needed()
        if starved <= allowance or needed is None or needed <= plan.slots:
            return None
        median = self._median_service_s() or 0.0
        return (
            f"{SLOTS_PROBLEM}: {needed} needed by Little's law, {plan.slots} given "
            f"({plan.peak_rps:g} rps x the SUT's median service time {median * 1000:.0f} ms; "
            f"{starved} sends waited for a free slot): raise load.concurrency"
        )


def _setup_problem(setup: dict[str, UserSetup]) -> str | None:
    """A user class that could not set itself up for its declared requests."""
    parts = []
    for name, tally in setup.items():
        if not tally.failed and not tally.missing:
            continue
        kinds = ", ".join(f"{kind} x{n}" for kind, n in sorted(tally.errors.items()))
        text = f"{name}: {tally.failed} of {tally.users} set-up steps failed"
        text += f" ({kinds})" if kinds else ""
        lacked = ", ".join(f"{n} sends of {request}" for request, n in tally.missing.items())
        text += f"; without it, {lacked} had nothing to act on" if lacked else ""
        parts.append(text)
    if not parts:
        return None
    return "user set-up failed (" + "; ".join(parts) + "): its requests were not sent as declared"
