"""Is a new run's percentile beyond its history's run-to-run spread?

Per (window, request name, percentile) the stored runs give one value each, read from their
stored HDR histograms. Latency percentiles are roughly log-normal across runs, so the test works
on logarithms: with N stored runs of mean m and standard deviation s, a new healthy run falls
below m + t(N-1, q) * s * sqrt(1 + 1/N) with probability q (a one-sided prediction interval,
Student's t, scipy). Its `confidence` is that q at the new value. With few runs s can come out
near zero by chance, so s is floored at the new run's own sampling error (a bootstrap of its
histogram: multinomial resamples of its bucket counts) and at HDR's 0.1% precision.
A rank test cannot decide here: one new run against N stored ones reaches at best p = 1/(N+1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy
from hdrh.histogram import HdrHistogram
from scipy import stats

HDR_PRECISION = 0.001  # 3 significant digits
BOOTSTRAP_DRAWS = 200


@dataclass(frozen=True)
class Judgement:
    history_ms: tuple[float, ...]  # the stored runs' values, newest first
    new_ms: float
    centre_ms: float  # geometric mean of the stored runs
    relative: float  # new / centre - 1 (+0.25 = 25% higher)
    spread: float  # log-scale standard deviation used (run-to-run, floored)
    sigmas: float  # (log new - log centre) / (spread * sqrt(1 + 1/N))
    confidence: float  # one-sided: P(a healthy run would read lower than this one)


def percentile_ms(histogram: HdrHistogram, percentile: float) -> float:
    return float(histogram.get_value_at_percentile(percentile)) / 1000


def bootstrap_log_sd(histogram: HdrHistogram, percentile: float, seed: int = 1) -> float:
    """Sampling error of log(percentile) of this histogram: resample its n values."""
    values, counts = [], []
    for item in histogram.get_recorded_iterator():
        values.append(item.value_iterated_to)
        counts.append(item.count_added_in_this_iter_step)
    n = int(sum(counts))
    if n < 2 or len(values) < 2:
        return 0.0
    rng = numpy.random.default_rng(seed)
    draws = rng.multinomial(n, numpy.asarray(counts, dtype=float) / n, size=BOOTSTRAP_DRAWS)
    rank = max(math.ceil(percentile / 100 * n), 1)
    index = (numpy.cumsum(draws, axis=1) >= rank).argmax(axis=1)
    picked = numpy.log(numpy.asarray(values, dtype=float)[index])
    return float(picked.std(ddof=1))


def judge(history_ms: Sequence[float], new_ms: float, new_sampling_sd: float) -> Judgement:
    """The new value against N >= 2 stored values (all > 0)."""
    logs = numpy.log(numpy.asarray(history_ms, dtype=float))
    count = len(logs)
    centre = float(logs.mean())
    spread = max(float(logs.std(ddof=1)), new_sampling_sd, HDR_PRECISION)
    sigmas = (math.log(new_ms) - centre) / (spread * math.sqrt(1 + 1 / count))
    confidence = float(stats.t.cdf(sigmas, df=count - 1))
    return Judgement(
        history_ms=tuple(history_ms),
        new_ms=new_ms,
        centre_ms=math.exp(centre),
        relative=new_ms / math.exp(centre) - 1,
        spread=spread,
        sigmas=sigmas,
        confidence=confidence,
    )
