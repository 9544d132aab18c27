"""`.hgrm` exports: latency distributions in hdrhistogram's own percentile-distribution text
format (milliseconds), which HdrHistogram's plotter reads. One file per request name: over a
window of one scenario's series (the load engine, per run) or over a whole result
(`chaosgate report --hgrm`, `<scenario>__<endpoint>.hgrm`)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from hdrh.histogram import HdrHistogram

from chaosgate.errors import InputError
from reports import hdr
from reports.model import RunResult, SliceBucket

US_PER_MS = 1000.0


def slug(text: str) -> str:
    """A file-name-safe form of a request or scenario name: `GET /api/x` -> `get-api-x`."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "unnamed"


def _write(histogram: HdrHistogram, path: Path) -> Path:
    with path.open("wb") as out:
        histogram.output_percentile_distribution(out, US_PER_MS)
    return path


def write_hgrm(
    series: Iterable[SliceBucket],
    out_dir: Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> list[Path]:
    """Write `<name>.hgrm` for each request name over the slices whose middle is in
    [start_s, end_s); return the paths."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for bucket in series:
        if bucket.mid_s >= start_s and (end_s is None or bucket.mid_s < end_s):
            by_name[bucket.name].append(bucket.histogram)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _write(hdr.merge(parts), out_dir / f"{slug(name)}.hgrm")
        for name, parts in sorted(by_name.items())
    ]


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
            if histogram.get_total_count():
                path = directory / f"{slug(scenario.name)}__{slug(name)}.hgrm"
                written.append(_write(histogram, path))
    return written
