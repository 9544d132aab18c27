"""HDR histogram conventions shared by every producer and reader of results.

Values are recorded in microseconds, 1 µs to 60 s, 3 significant digits. Histograms travel
as hdrhistogram's compressed base64 encoding so that they merge exactly across workers,
seconds and windows.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy
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


def subtract(total: HdrHistogram, part: HdrHistogram) -> HdrHistogram:
    """`total` without the values of `part` (which `total` holds): e.g. the successes, from
    every request and the errors. hdrhistogram has `add` but no `subtract`; its counts are a
    ctypes array, so numpy does it in one step (its pure-Python iterators take ~30 ms each)."""
    left = new_histogram()
    left.add(total)
    if not part.get_total_count():
        return left
    counts = numpy.ctypeslib.as_array(left.counts)
    taken = numpy.ctypeslib.as_array(part.counts)[: len(counts)]
    counts[: len(taken)] -= numpy.minimum(taken, counts[: len(taken)])
    nonzero = numpy.flatnonzero(counts)
    if len(nonzero) == 0:
        return new_histogram()
    left.set_internal_tacking_values(int(nonzero[0]), int(nonzero[-1]), int(counts.sum()))
    return left


def value_at_percentile(histogram: HdrHistogram, percentile: float) -> int:
    """`histogram.get_value_at_percentile(percentile)`, exactly, with numpy: hdrh walks its
    counts in Python (~13 ms a call); recovery judges hundreds of pooled runs."""
    target = histogram.get_target_count_at_percentile(percentile)
    counts = numpy.ctypeslib.as_array(histogram.counts)[: histogram.counts_len]
    index = int(numpy.searchsorted(numpy.cumsum(counts), target))  # first cumsum >= target
    if index >= len(counts):
        return 0
    value = histogram.get_value_from_index(index)
    if percentile:
        return int(histogram.get_highest_equivalent_value(value))
    return int(histogram.get_lowest_equivalent_value(value))


def counts_of(histogram: HdrHistogram) -> numpy.ndarray:
    """A copy of the histogram's counts (one per bucket index), to add and subtract in numpy."""
    return numpy.ctypeslib.as_array(histogram.counts)[: histogram.counts_len].copy()


def from_counts(counts: numpy.ndarray) -> HdrHistogram:
    """A histogram holding these counts (as `counts_of` gives them)."""
    histogram = new_histogram()
    numpy.ctypeslib.as_array(histogram.counts)[: len(counts)] = counts
    nonzero = numpy.flatnonzero(counts)
    if len(nonzero):
        histogram.set_internal_tacking_values(int(nonzero[0]), int(nonzero[-1]), int(counts.sum()))
    return histogram
