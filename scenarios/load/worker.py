"""The load worker process: `python -m scenarios.load.worker --role local|master|worker ...`.

This is the only module that runs Locust (and gevent's monkey-patching), always in its own
process. `local` runs the whole plan in one process and writes records to `--out` (JSONL);
`master` + N `worker`s are Locust's distributed mode: each worker runs its share of the schedule
(arrivals k ≡ index mod N) and ships records to the master as custom messages; the master
writes them to `--out`. Records are the same in both modes, so results are identical in shape.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, NoReturn  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
from locust import User  # noqa: E402
from locust.env import Environment  # noqa: E402

from scenarios.load.dispatch import Dispatcher  # noqa: E402
from scenarios.load.engine import Engine, ticket_kinds  # noqa: E402
from scenarios.load.plan import LoadPlan  # noqa: E402
from scenarios.load.recorder import outcome_of  # noqa: E402
from scenarios.load.setup_phase import SetupFailed, SetupWatch  # noqa: E402
from scenarios.users import USER_CLASSES  # noqa: E402

Sink = Callable[[dict[str, Any]], None]
_LOADED: dict[str, type[User]] = {}  # the user's classes are built once per process


def load_class(name: str, host: str, timeout_s: float) -> type[User]:
    """A shipped user by name, or the user's own (locustfile class, request mix) by path."""
    if name in USER_CLASSES:
        module, attribute = USER_CLASSES[name].split(":")
        cls: type[User] = getattr(importlib.import_module(module), attribute)
    elif name in _LOADED:
        cls = _LOADED[name]
    else:
        from scenarios.users.custom import UserClassError, load_user

        try:
            cls = _LOADED[name] = load_user(name, timeout_s)
        except UserClassError as error:
            raise SetupFailed(str(error)) from error
    cls.host = host
    cls.network_timeout = cls.connection_timeout = timeout_s  # type: ignore[attr-defined]
    return cls


def user_classes(plan: LoadPlan, host: str) -> list[type[User]]:
    """The plan's classes (raises SetupFailed naming a class that does not load)."""
    classes = [load_class(name, host, plan.request_timeout_s) for name in plan.users]
    for cls in classes:
        if getattr(cls, "ticket_kind", "") == "ws":
            cls.fixed_count = plan.websocket_clients
    return classes


def _where(tb: Any) -> str:
    """The innermost frame outside installed libraries: the line of the user's code."""
    frames = traceback.extract_tb(tb)
    own = [f for f in frames if "site-packages" not in f.filename] or frames
    if not own:
        return ""
    frame = own[-1]
    return f" at {frame.filename}:{frame.lineno} ({(frame.line or '').strip()})"


def install_error_report(env: Environment, sink: Callable[[], Sink | None]) -> None:
    """A user class that raises is reported at once, with its error and line: in its set-up
    (on_start) it is fatal (`env.chaosgate_fatal`: the run cannot start as planned); in a
    task, each distinct error is shipped once as a `user_error` record."""
    seen: set[str] = set()

    def on_user_error(user_instance: Any, exception: BaseException, tb: Any, **_: Any) -> None:
        user = getattr(user_instance, "user", user_instance)  # a TaskSet's user
        setup = not getattr(user, "cg_ready", False)
        message = (
            f"user class {type(user).__name__} raised {type(exception).__name__}: {exception}"
            f"{_where(tb)}{' in its set-up (on_start)' if setup else ''}"
        )
        if setup and getattr(env, "chaosgate_fatal", None) is None:
            env.chaosgate_fatal = message  # type: ignore[attr-defined]
        if message in seen or len(seen) >= 10:
            return
        seen.add(message)
        out = sink()
        if out is not None:
            kind = {"type": "error", "fatal": True} if setup else {"type": "user_error"}
            out({**kind, "message": message})

    env.events.user_error.add_listener(on_user_error)  # type: ignore[no-untyped-call]


def wait_ready(env: Environment, users: int, timeout_s: float) -> str | None:
    """Until every user finished its set-up (on_start, logins) and waits for a ticket: the
    schedule starts after, so set-up is neither load nor a cause of late sends. Returns the
    line to report when the set-up outlasted the start-up timeout (SetupWatch)."""
    dispatcher = getattr(env, "chaosgate_dispatcher", None)
    assert isinstance(dispatcher, Dispatcher)
    watch = SetupWatch(timeout_s, "users")
    while dispatcher.ready < users:
        fatal = getattr(env, "chaosgate_fatal", None)
        if fatal is not None:
            raise SetupFailed(fatal)
        watch.check(dispatcher.ready, f"{dispatcher.ready} of {users} users ready")
        gevent.sleep(0.02)
    return watch.extended(f"{users} users")


def ship_setup(sink: Sink, *, reruns: bool = False) -> None:
    """How long the request mixes' `setup:` (log-ins) took here, one record per class; at the
    end (`reruns`), the log-ins again after a 401, if any."""
    from scenarios.users.mix_setup import rerun_lines, setup_lines

    for line in rerun_lines() if reruns else setup_lines():
        sink({"type": "mix_setup", "message": line})


def install_hook(env: Environment) -> None:
    def on_request(
        name: str,
        response_time: float,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
        start_time: float | None = None,
        response: Any = None,
        **_: Any,
    ) -> None:
        engine: Engine | None = getattr(env, "chaosgate_engine", None)
        ticket = (context or {}).get("cg_ticket")
        if engine is None or ticket is None or start_time is None:
            return  # not a scheduled send (e.g. a user's helper call): not part of the figures
        if ticket.given_up:
            return  # already recorded as stopped in flight
        intended = ticket.intended
        if ticket.started:
            intended = start_time  # later requests of one task: from their own start
        else:
            ticket.started = True
            engine.recorder.record_send(ticket.intended, start_time, ticket.queued_at)
        error, outcome = outcome_of(name, exception, response)
        engine.recorder.record(name, intended, start_time, response_time / 1000, error, outcome)

    env.events.request.add_listener(on_request)  # type: ignore[no-untyped-call]


def drop_locust_stats(env: Environment) -> int:
    """One stats path per request: the recorder's. Locust's runner logs every request into
    its own statistics too (a listener its __init__ adds), which nothing here reads unless its
    web UI watches the run (`--web`, which keeps them). Returns how many listeners it removed."""
    hook = env.events.request
    own = [h for h in hook._handlers if h.__qualname__.startswith("Runner.__init__.")]
    for handler in own:
        hook.remove_listener(handler)  # type: ignore[no-untyped-call]
    return len(own)


def attach(env: Environment, plan: LoadPlan) -> Dispatcher:
    """Give the users their dispatcher (before any user starts): they wait on it for tickets."""
    classes: dict[str, list[tuple[str, float]]] = {kind: [] for kind in ticket_kinds(plan)}
    for name in plan.users:
        cls = load_class(name, env.host or "", plan.request_timeout_s)
        classes[str(getattr(cls, "ticket_kind", "http"))].append((cls.__name__, float(cls.weight)))
    dispatcher = Dispatcher(classes, seed=plan.seed, setup_concurrency=plan.setup_concurrency)
    env.chaosgate_dispatcher = dispatcher  # type: ignore[attr-defined]
    return dispatcher


def begin(env: Environment, engine: Engine) -> None:
    """Every user is waiting: start the schedule."""
    env.chaosgate_engine = engine  # type: ignore[attr-defined]
    dispatcher = getattr(env, "chaosgate_dispatcher", None)
    assert isinstance(dispatcher, Dispatcher)
    assert env.runner is not None
    counts = env.runner.user_classes_count
    dispatcher.start(engine, present={name for name, count in counts.items() if count > 0})


def drive(env: Environment, engine: Engine, sink: Sink) -> None:
    """Run this process's share of the schedule to the end (or abort), shipping records.

    No request is left behind: after an abort the users finish what they have in flight (up
    to the plan's `stop_drain`, the request timeout by default); whatever is still in flight
    then, or at the end of the normal drain, is recorded as an error before the final flush."""
    runner = env.runner
    dispatcher = getattr(env, "chaosgate_dispatcher", None)
    assert runner is not None
    assert isinstance(dispatcher, Dispatcher)
    stopping = gevent.event.Event()

    def flusher() -> None:
        while not stopping.wait(1.0):
            sink(engine.recorder.flush(oldest_in_flight=engine.oldest_in_flight()))

    flushing = gevent.spawn(flusher)
    begin(env, engine)
    deadline = engine.end_at + engine.plan.drain_s
    while time.time() < deadline and not engine.aborted:
        if engine.exhausted() and runner.user_count == 0:
            break
        gevent.sleep(0.05)
    aborted = engine.aborted
    engine.abort()  # nothing more is handed out; what was due and unsent counts as skipped
    dispatcher.stop()  # queued tickets never start: they count as unsent
    if aborted:
        drain_until = time.time() + engine.plan.stop_drain
        while engine.waiting_on_sut() and time.time() < drain_until:
            gevent.sleep(0.02)
    engine.give_up(time.time())
    stopping.set()
    flushing.join()
    runner.stop()
    ship_setup(sink, reruns=True)
    sink(
        engine.recorder.flush(
            final=True,
            scheduled=engine.scheduled(),
            start_at=engine.start_at,
            unsent_starved=engine.unsent_starved,
        )
    )


def file_sink(path: Path) -> Sink:
    out = path.open("a", encoding="utf-8")

    def write(record: dict[str, Any]) -> None:
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
        out.flush()

    return write


def _abort_on_term(get_engine: Callable[[], Engine | None]) -> None:
    def handler() -> None:
        engine = get_engine()
        if engine is not None:
            engine.abort()

    gevent.signal_handler(signal.SIGTERM, handler)


def fail(sink: Sink, error: SetupFailed) -> NoReturn:
    """Say why at once (the parent reports it), then exit: nothing of the schedule ran."""
    sink({"type": "error", "fatal": True, "message": str(error)})
    print(f"chaosgate load worker: {error}", file=sys.stderr, flush=True)
    sys.exit(3)


def environment(args: argparse.Namespace, plan: LoadPlan) -> tuple[Sink, Environment]:
    """The record sink and a Locust environment with the plan's user classes (a class that
    cannot be set up is reported at once: `fail`)."""
    sink = file_sink(Path(args.out))
    try:
        classes = user_classes(plan, args.base_url)
    except SetupFailed as error:
        fail(sink, error)
    return sink, Environment(user_classes=classes, host=args.base_url)


def run_local(args: argparse.Namespace, plan: LoadPlan) -> None:
    sink, env = environment(args, plan)
    install_hook(env)
    install_error_report(env, lambda: sink)
    runner = env.create_local_runner()
    if args.web_port:  # chaosgate load --web: Locust's UI watches this run (127.0.0.1 only)
        sys.argv[1:] = []  # its index page parses sys.argv with Locust's own parser
        env.create_web_ui("127.0.0.1", args.web_port)
    else:
        drop_locust_stats(env)
    users = plan.slots + plan.websocket_clients
    attach(env, plan)
    runner.start(users, spawn_rate=users)
    try:
        extended = wait_ready(env, users, args.connect_timeout_s)
    except SetupFailed as error:
        runner.quit()
        fail(sink, error)
    sink({**env.chaosgate_dispatcher.setup_record(), "worker": 0})  # type: ignore[attr-defined]
    ship_setup(sink)
    if extended is not None:  # shown and kept with the mixes' set-up lines (a late start)
        sink({"type": "mix_setup", "message": extended})
    engine = Engine(plan, args.t0, time.time() + 0.05, 0, 1)
    _abort_on_term(lambda: engine)
    drive(env, engine, sink)
    runner.quit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios.load.worker")
    parser.add_argument("--role", choices=["local", "master", "worker"], required=True)
    parser.add_argument("--plan", help="LoadPlan JSON file (local, master)")
    parser.add_argument("--out", help="records JSONL file (local, master)")
    parser.add_argument("--t0", type=float, default=None, help="Unix time of second 0")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, default=5557)
    parser.add_argument("--bind-host", default="127.0.0.1", help="master: where workers connect")
    parser.add_argument("--expect-workers", type=int, default=1)
    parser.add_argument("--connect-timeout-s", type=float, default=60.0)
    parser.add_argument("--web-port", type=int, default=0, help="local: serve Locust's web UI")
    args = parser.parse_args(argv)
    if args.role == "worker":
        from scenarios.load.distributed import run_worker

        run_worker(args)
        return
    plan = LoadPlan.model_validate_json(Path(args.plan).read_text())
    if args.t0 is None:
        args.t0 = time.time()
    if args.role == "local":
        run_local(args, plan)
    else:
        from scenarios.load.distributed import run_master

        run_master(args, plan)
    sys.exit(0)


if __name__ == "__main__":
    main()
