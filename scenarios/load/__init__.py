"""The load engine: open-model Locust load, latency from the intended send time,
HDR histograms per request name per second. Importing this package imports no Locust.

Names load lazily (PEP 562): the worker process imports `scenarios.load.engine` and must not
pay for the parent-side modules (LoadRun, the collector, rich) at every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scenarios.load.collect import NameStats, SecondView
    from scenarios.load.plan import LoadPlan, RateStep, parse_duration
    from scenarios.load.run import LoadOutcome, LoadRun

_WHERE = {
    "LoadOutcome": "scenarios.load.run",
    "LoadPlan": "scenarios.load.plan",
    "LoadRun": "scenarios.load.run",
    "NameStats": "scenarios.load.collect",
    "RateStep": "scenarios.load.plan",
    "SecondView": "scenarios.load.collect",
    "parse_duration": "scenarios.load.plan",
}

__all__ = [
    "LoadOutcome",
    "LoadPlan",
    "LoadRun",
    "NameStats",
    "RateStep",
    "SecondView",
    "parse_duration",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'scenarios.load' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
