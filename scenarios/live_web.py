"""`chaosgate load --web`: the same open-model run, its local worker also serving Locust's web
UI on 127.0.0.1 (Locust's own statistics, live charts). The UI only watches: the schedule,
not its Start/Stop buttons, drives the users, and the result still comes from the HDR records.
Its Stop button does stop the users, though: the harness polls the UI's state and then ends
the run as stopped by the user (not a verdict on the service: the rest was never sent).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from chaosgate.processes import ManagedProcess
from chaosgate.settings import Timeouts
from scenarios.load.plan import LoadPlan
from scenarios.load.run import LoadRun


class _WebLoadRun(LoadRun):
    web_port: int = 8089

    def _process(self, name: str, *args: str) -> ManagedProcess:
        # the local worker runs the users, so it serves the UI (one worker: `workers=1`)
        extra = ("--web-port", str(self.web_port)) if name == "load-local" else ()
        return super()._process(name, *args, *extra)


def load_run(plan: LoadPlan, url: str, t0: float, out_dir: Path, web_port: int | None,
             timeouts: Timeouts) -> LoadRun:  # fmt: skip
    if web_port is None:
        return LoadRun(plan, url, t0, out_dir, progress=False, timeouts=timeouts)
    run = _WebLoadRun(plan, url, t0, out_dir, progress=False, timeouts=timeouts)
    run.web_port = web_port
    return run


WEB_STOP = "the Locust web UI's Stop button"


def stopped_in_web_ui(port: int, timeout_s: float = 0.5) -> bool:
    """True once the user pressed Stop in Locust's web UI (its runner state is `stopped`);
    False while it runs or when the UI does not answer (it may still be starting)."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/stats/requests", timeout=timeout_s
        ) as response:
            state = json.loads(response.read(1 << 20)).get("state")
    except (OSError, ValueError, AttributeError):
        return False
    return bool(state == "stopped")
