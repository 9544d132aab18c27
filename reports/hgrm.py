"""`.hgrm` exports: each endpoint's whole-run latency distribution in hdrhistogram's own
percentile-distribution text format (milliseconds), which HdrHistogram's plotter reads."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from chaosgate.errors import InputError
from reports import hdr
from reports.model import RunResult

US_PER_MS = 1000.0


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "unnamed"


def write_hgrm_files(result: RunResult, directory: Path) -> list[Path]:
    """Write `<scenario>__<endpoint>.hgrm` per endpoint (and WebSocket delivery); the paths."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{directory}: cannot create directory: {error.strerror}") from None
    written = []
    for scenario in result.scenarios:
        encoded: dict[str, list[str]] = defaultdict(list)
        for bucket in scenario.series:
            encoded[bucket.name].append(bucket.histogram)
        if scenario.websocket is not None and scenario.websocket.latency_histogram:
            encoded["ws delivery"].append(scenario.websocket.latency_histogram)
        for name, histograms in sorted(encoded.items()):
            histogram = hdr.merge(histograms)
            if not histogram.get_total_count():
                continue
            path = directory / f"{slug(scenario.name)}__{slug(name)}.hgrm"
            with path.open("wb") as out:
                histogram.output_percentile_distribution(out, US_PER_MS)
            written.append(path)
    return written
