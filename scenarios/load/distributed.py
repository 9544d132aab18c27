"""Locust's distributed mode with chaosgate's schedule: one master, N workers (processes here,
or machines: see README "Distributed load"). The master hands each worker its share of the
schedule (index, count, start time) in a custom message before spawning users; workers ship
their records back as custom messages, and the master writes them to the one records file.
"""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.rpc.protocol import Message
from locust.runners import STATE_RUNNING

from scenarios.load.engine import Engine
from scenarios.load.plan import LoadPlan
from scenarios.load.recorder import Recorder
from scenarios.load.worker import (
    _abort_on_term,
    attach,
    drive,
    file_sink,
    install_hook,
    load_class,
    user_classes,
)
from scenarios.users import USER_CLASSES


def run_master(args: argparse.Namespace, plan: LoadPlan) -> None:
    env = Environment(user_classes=user_classes(plan, args.base_url), host=args.base_url)
    runner = env.create_master_runner(args.bind_host, args.master_port)
    sink = file_sink(Path(args.out))
    finals: set[int] = set()
    aborted_at: float | None = None

    def on_data(msg: Message, **_: Any) -> None:
        sink(msg.data)
        if msg.data.get("final"):
            finals.add(int(msg.data["worker"]))

    runner.register_message("cg_data", on_data)
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
    deadline = time.time() + args.connect_timeout_s
    while runner.state != STATE_RUNNING and time.time() < deadline and aborted_at is None:
        gevent.sleep(0.02)  # every worker has spawned its users: they wait for tickets
    start_at = time.time() + 0.2  # the go message's trip
    runner.send_message("cg_go", {"start_at": start_at})
    deadline = start_at + plan.duration_s + plan.drain_s + 15

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
    state: dict[str, Any] = {}
    _abort_on_term(lambda: state.get("engine"))

    def ship(record: dict[str, Any]) -> None:
        runner.send_message("cg_data", record)

    def on_plan(msg: Message, **_: Any) -> None:
        plan = LoadPlan.model_validate(msg.data["plan"])
        for cls in env.user_classes:
            cls.network_timeout = cls.connection_timeout = plan.request_timeout_s  # type: ignore[attr-defined]
        state.update(msg.data, plan=plan)
        attach(env, plan)

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
