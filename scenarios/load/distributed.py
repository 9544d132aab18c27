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

from scenarios.load.engine import Engine
from scenarios.load.plan import LoadPlan
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
    aborted = False

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
        nonlocal aborted
        aborted = True
        runner.send_message("cg_abort", None)

    gevent.signal_handler(signal.SIGTERM, abort)
    users = plan.slots + plan.websocket_clients
    start_at = time.time() + 1.0 + users / 2000  # the spawn messages and user start-up
    workers = sorted(client.id for client in runner.clients.ready)
    for index, client_id in enumerate(workers):
        share = {
            "plan": plan.model_dump(mode="json"),
            "t0": args.t0,
            "start_at": start_at,
            "index": index,
            "count": len(workers),
        }
        runner.send_message("cg_plan", share, client_id=client_id)
    runner.start(users, spawn_rate=users)
    deadline = start_at + plan.duration_s + plan.drain_s + 15
    while len(finals) < len(workers) and time.time() < deadline:
        gevent.sleep(0.05)
    if len(finals) < len(workers):
        sink(
            {
                "type": "error",
                "message": f"{len(workers) - len(finals)} worker(s) sent no "
                f"final record{' after abort' if aborted else ''}",
            }
        )
    runner.quit()


def run_worker(args: argparse.Namespace) -> None:
    classes = [load_class(name, args.base_url or "", 10.0) for name in USER_CLASSES]
    env = Environment(user_classes=classes, host=args.base_url)
    install_hook(env)
    runner = env.create_worker_runner(args.master_host, args.master_port)
    state: dict[str, Engine] = {}
    _abort_on_term(lambda: state.get("engine"))

    def ship(record: dict[str, Any]) -> None:
        runner.send_message("cg_data", record)

    def on_plan(msg: Message, **_: Any) -> None:
        data = msg.data
        plan = LoadPlan.model_validate(data["plan"])
        for cls in env.user_classes:
            cls.network_timeout = cls.connection_timeout = plan.request_timeout_s  # type: ignore[attr-defined]
        engine = Engine(plan, data["t0"], data["start_at"], data["index"], data["count"])
        attach(env, engine)
        state["engine"] = engine
        gevent.spawn(drive, env, engine, ship, None)

    def on_abort(msg: Message, **_: Any) -> None:
        if "engine" in state:
            state["engine"].abort()

    runner.register_message("cg_plan", on_plan)
    runner.register_message("cg_abort", on_abort)
    assert runner.greenlet is not None
    runner.greenlet.join()
