"""HDR histogram conventions shared by every producer and reader of results.

Values are recorded in microseconds, 1 µs to 60 s, 3 significant digits. Histograms travel
as hdrhistogram's compressed base64 encoding so that they merge exactly across workers,
seconds and windows.
"""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def encode(histogram: HdrHistogram) -> str:
    encoded: bytes = histogram.encode()
    return encoded.decode("ascii")


def decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded.encode("ascii"))


def merge(encoded_histograms: Iterable[str]) -> HdrHistogram:
    """One histogram holding every value of the given encoded histograms, exactly."""
    total = new_histogram()
    for encoded in encoded_histograms:
        total.add(decode(encoded))
    return total
