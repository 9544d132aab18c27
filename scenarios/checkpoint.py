"""A long run's record on disk while it runs: every `every_s` the result so far is written over
result.json (whole file to a temporary name, then renamed: a reader never sees half a file),
so a run killed outright (SIGKILL, the OOM killer, a CI runner's hard timeout, a reboot) still
leaves the finished seconds. SIGTERM and Ctrl-C write the full record (scenarios.stop_signals);
the end of the run writes it over the last checkpoint.

The record so far is INVALID with `PARTIAL` in its reason: a run that did not end is no verdict.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from reports.model import RunResult
from reports.renderers import render_json

PARTIAL = "partial record: the run was still going"
CHECKPOINT_S = 60.0


class Checkpoint:
    def __init__(self, path: Path, every_s: float, build: Callable[[], RunResult]) -> None:
        self.path, self.every_s, self.build = path, every_s, build
        self._next = time.monotonic() + every_s
        self.written = 0

    def maybe(self) -> None:
        """Write the record so far when it is due (every_s 0: never)."""
        if self.every_s <= 0 or time.monotonic() < self._next:
            return
        self.write()
        self._next = time.monotonic() + self.every_s

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.write_text(render_json(self.build()))
        os.replace(temporary, self.path)
        self.written += 1
