"""Locust's distributed mode with chaosgate's schedule: one master, N workers (processes here,
or machines: see README "Distributed load"). The master hands each worker its share of the
schedule (index, count, start time) in a custom message before spawning users; workers ship
their records back as custom messages, and the master writes them to the one records file.
"""

from __future__ import annotations

import argparse
import signal
import time
from typing import Any

import gevent
from locust.env import Environment
from locust.rpc.protocol import Message
from locust.runners import STATE_RUNNING

from scenarios.load.engine import Engine
from scenarios.load.plan import LoadPlan
from scenarios.load.recorder import Recorder
from scenarios.load.setup_phase import SetupFailed, SetupWatch
from scenarios.load.worker import (
    _abort_on_term,
    attach,
    drive,
    drop_locust_stats,
    environment,
    install_error_report,
    install_hook,
    load_class,
    ship_setup,
)
from scenarios.users import USER_CLASSES


def run_master(args: argparse.Namespace, plan: LoadPlan) -> None:
    sink, env = environment(args, plan)
    runner = env.create_master_runner(args.bind_host, args.master_port)
    finals: set[int] = set()
    ready: set[str] = set()  # workers whose users all finished their set-up
    progress: dict[str, tuple[int, int]] = {}  # worker -> (users spawned, users ready)
    fatal: list[str] = []
    aborted_at: float | None = None

    def on_data(msg: Message, **_: Any) -> None:
        sink(msg.data)
        if msg.data.get("final"):
            finals.add(int(msg.data["worker"]))
        if msg.data.get("fatal"):
            fatal.append(str(msg.data.get("message")))

    def on_ready(msg: Message, **_: Any) -> None:
        ready.add(str(msg.node_id))

    def on_progress(msg: Message, **_: Any) -> None:
        progress[str(msg.node_id)] = (int(msg.data["spawned"]), int(msg.data["ready"]))

    runner.register_message("cg_data", on_data)
    runner.register_message("cg_ready", on_ready)
    runner.register_message("cg_progress", on_progress)
    deadline = time.time() + args.connect_timeout_s
    while len(runner.clients.ready) < args.expect_workers:
        if time.time() > deadline:
            sink(
                {
                    "type": "error",
                    "message": f"only {len(runner.clients.ready)} of "
                    f"{args.expect_workers} workers connected within {args.connect_timeout_s}s",
                }
            )
            runner.quit()
            return
        gevent.sleep(0.05)

    def abort() -> None:
        nonlocal aborted_at
        aborted_at = time.time()
        runner.send_message("cg_abort", None)

    gevent.signal_handler(signal.SIGTERM, abort)
    users = plan.slots + plan.websocket_clients
    workers = sorted(client.id for client in runner.clients.ready)
    for index, client_id in enumerate(workers):
        share = {"plan": plan.model_dump(mode="json"), "t0": args.t0, "index": index,
                 "count": len(workers)}  # fmt: skip
        runner.send_message("cg_plan", share, client_id=client_id)
    runner.start(users, spawn_rate=users)
    watch = SetupWatch(args.connect_timeout_s, "workers")

    def done() -> str:
        each = ", ".join(
            f"{spawned} spawned/{ok} ready"
            for spawned, ok in (progress.get(w, (0, 0)) for w in workers)
        )
        return f"{len(ready)} of {len(workers)} load workers ready (users: {each}; {users} in all)"

    try:  # every worker spawned its users and their set-up (on_start) is done
        while len(ready) < len(workers) and aborted_at is None:
            if fatal:  # a worker's user class failed its set-up: it said why (in the records)
                runner.quit()
                return
            watch.check((len(ready), tuple(sorted(progress.items()))), done())
            gevent.sleep(0.02)
    except SetupFailed as error:
        sink({"type": "error", "fatal": True, "message": str(error)})
        runner.quit()
        return
    if (extended := watch.extended(f"{users} users on {len(workers)} workers")) is not None:
        sink({"type": "mix_setup", "message": extended})
    start_at = time.time() + 0.2  # the go message's trip
    runner.send_message("cg_go", {"start_at": start_at})
    deadline = start_at + plan.total_s + plan.drain_s + 15

    def waited_enough() -> bool:  # after an abort the workers drain requests in flight first
        limit = deadline if aborted_at is None else aborted_at + plan.stop_drain + 15
        return time.time() > min(deadline, limit)

    while len(finals) < len(workers) and not waited_enough():
        gevent.sleep(0.05)
    if len(finals) < len(workers):
        missing = len(workers) - len(finals)
        after = " after abort" if aborted_at is not None else ""
        sink({"type": "error", "message": f"{missing} worker(s) sent no final record{after}"})
    runner.quit()


def run_worker(args: argparse.Namespace) -> None:
    classes = [load_class(name, args.base_url or "", 10.0) for name in USER_CLASSES]
    env = Environment(user_classes=classes, host=args.base_url)
    install_hook(env)
    runner = env.create_worker_runner(args.master_host, args.master_port)
    drop_locust_stats(env)  # the master has no web UI: nothing reads Locust's statistics
    state: dict[str, Any] = {}
    _abort_on_term(lambda: state.get("engine"))

    def ship(record: dict[str, Any]) -> None:
        if "worker" not in record and "index" in state:
            record = {**record, "worker": state["index"]}
        runner.send_message("cg_data", record)

    install_error_report(env, lambda: ship)

    def report_ready() -> None:
        """Tell the master once every user spawned here finished its set-up; until then, how
        far it got whenever that changes (the master extends the set-up phase while it moves)."""
        said: tuple[int, int] | None = None
        while True:
            dispatcher = getattr(env, "chaosgate_dispatcher", None)
            done = (runner.user_count, dispatcher.ready if dispatcher is not None else 0)
            if runner.state == STATE_RUNNING and dispatcher is not None and done[1] >= done[0]:
                break
            if getattr(env, "chaosgate_fatal", None) is not None:
                return  # reported as a fatal error record already
            if done != said:
                runner.send_message("cg_progress", {"spawned": done[0], "ready": done[1]})
                said = done
            gevent.sleep(0.05)
        ship(dispatcher.setup_record())
        ship_setup(ship)
        runner.send_message("cg_ready", None)

    def on_plan(msg: Message, **_: Any) -> None:
        plan = LoadPlan.model_validate(msg.data["plan"])
        state.update(msg.data, plan=plan)
        try:  # the user's own classes: known from the plan only
            for name in plan.users:
                cls = load_class(name, args.base_url or "", plan.request_timeout_s)
                if cls not in env.user_classes:
                    env.user_classes.append(cls)
        except SetupFailed as error:
            env.chaosgate_fatal = str(error)  # type: ignore[attr-defined]
            ship({"type": "error", "fatal": True, "message": str(error)})
            return
        for cls in env.user_classes:
            cls.network_timeout = cls.connection_timeout = plan.request_timeout_s  # type: ignore[attr-defined]
        attach(env, plan)
        gevent.spawn(report_ready)

    def on_go(msg: Message, **_: Any) -> None:
        engine = Engine(
            state["plan"], state["t0"], msg.data["start_at"], state["index"], state["count"]
        )
        state["engine"] = engine
        gevent.spawn(drive, env, engine, ship)

    def on_abort(msg: Message, **_: Any) -> None:
        if "engine" in state:
            state["engine"].abort()
        elif "plan" in state:  # aborted before the start: nothing was scheduled
            plan = state["plan"]
            recorder = Recorder(
                state["t0"], plan.tolerance_ms, state["index"], plan.cpu_limit_percent
            )
            ship(recorder.flush(final=True, scheduled=0))

    runner.register_message("cg_plan", on_plan)
    runner.register_message("cg_go", on_go)
    runner.register_message("cg_abort", on_abort)
    assert runner.greenlet is not None
    runner.greenlet.join()
