"""The load engine (contract C5): open-model Locust load, latency from the intended send time,
HDR histograms per request name per second. Importing this package imports no Locust."""

from scenarios.load.collect import NameStats, SecondView
from scenarios.load.plan import LoadPlan, RateStep, parse_duration
from scenarios.load.run import LoadOutcome, LoadRun

__all__ = [
    "LoadOutcome",
    "LoadPlan",
    "LoadRun",
    "NameStats",
    "RateStep",
    "SecondView",
    "parse_duration",
]
