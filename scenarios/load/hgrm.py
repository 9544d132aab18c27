"""`.hgrm` percentile distributions (HdrHistogram's text format, values in ms), for plotting with
HdrHistogram's tools or comparing runs by eye. One file per request name, over a window."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from reports.hdr import merge
from reports.model import SliceBucket

US_PER_MS = 1000.0


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "all"


def write_hgrm(
    series: Iterable[SliceBucket],
    out_dir: Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> list[Path]:
    """Write `<name>.hgrm` for each request name over the slices whose middle is in
    [start_s, end_s); return the paths."""
    by_name: dict[str, list[str]] = {}
    for bucket in series:
        if bucket.mid_s >= start_s and (end_s is None or bucket.mid_s < end_s):
            by_name.setdefault(bucket.name, []).append(bucket.histogram)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, parts in sorted(by_name.items()):
        path = out_dir / f"{slug(name)}.hgrm"
        with path.open("wb") as handle:
            merge(parts).output_percentile_distribution(handle, US_PER_MS)
        paths.append(path)
    return paths
