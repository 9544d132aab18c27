"""`SliceStats`: what one request name did in one slice, as one mergeable value.

The worker records into it, ships it as a wire dict (the `SliceBucket` fields), and the
parent merges each arriving delta into its own value for that (slice, name) — exact, since
HDR histograms add. The histogram is held decoded ("hot") while it changes and as its encoded
form once compacted: a decoded histogram is ~140 KB, an encoded one a few hundred bytes, so
a long run keeps only its recently changed slices decoded.

The errors' latencies are also kept apart (`error_histogram`, only once one failed) so that a
report can show successes and failures separately: fast 500s mixed into the percentiles make
an outage look healthy. `histogram` stays every request (what the pN KPIs judge).

Outcome kinds beside success and error (`OUTCOMES`): a `timeout` waited until the client gave
up; it is also an error (a failed request: `errors` and `error_rate` count it, its error kind
is "timeout"), counted apart so `timeout_rate` can tell a hang from a fast failure. `degraded`
and `wrong` are accepted answers that broke a response rule (scenarios.users.answers): not
errors (their latencies stay with the successes), each its own rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from reports.hdr import decode, encode, merge, new_histogram, subtract
from reports.model import SliceBucket

TIMEOUT = "timeout"
DEGRADED = "degraded"
WRONG = "wrong"
OUTCOMES = (TIMEOUT, DEGRADED, WRONG)  # beside plain success and error
_FIELD = {TIMEOUT: "timeouts", DEGRADED: "degraded", WRONG: "wrong"}


class SliceStats:
    """Count, errors, errors by kind, outcome kinds and latency histogram (µs) of one
    (slice, name)."""

    __slots__ = (
        "_encoded", "_errors", "_hot", "count", "degraded", "error_kinds", "errors", "name",
        "slice", "timeouts", "width", "wrong",
    )  # fmt: skip

    def __init__(self, slice_index: int, name: str, width: int = 1) -> None:
        self.slice = slice_index
        self.name = name
        self.width = width  # in slices: a long run's older values are coarser (SliceBucket.slices)
        self.count = 0
        self.errors = 0
        self.error_kinds: dict[str, int] = {}
        self.timeouts = 0  # also counted in errors
        self.degraded = 0  # accepted answers, not errors
        self.wrong = 0
        self._hot: HdrHistogram | None = None
        self._encoded: str | None = None  # the histogram's encoding, valid until it changes
        self._errors: SliceStats | None = None  # the errors alone (their histogram), if any

    def _histogram(self) -> HdrHistogram:
        if self._hot is None:
            self._hot = new_histogram() if self._encoded is None else decode(self._encoded)
        self._encoded = None  # about to change
        return self._hot

    def record(self, latency_us: int, error: str | None = None, outcome: str | None = None) -> None:
        """`outcome`: one of OUTCOMES or None; a timeout is an error (kind "timeout" unless
        `error` names one), degraded and wrong are not."""
        self._histogram().record_value(latency_us)
        self.count += 1
        if outcome is not None:
            if outcome not in _FIELD:
                raise ValueError(f"unknown outcome {outcome!r} (expected one of {OUTCOMES})")
            setattr(self, _FIELD[outcome], getattr(self, _FIELD[outcome]) + 1)
            if outcome == TIMEOUT and error is None:
                error = TIMEOUT
            elif outcome != TIMEOUT:
                error = None
        if error is not None:
            self.errors += 1
            self.error_kinds[error] = self.error_kinds.get(error, 0) + 1
            self._failed().record(latency_us)

    def _failed(self) -> SliceStats:
        if self._errors is None:
            self._errors = SliceStats(self.slice, self.name)
        return self._errors

    def merge(self, other: SliceStats) -> None:
        """Add `other` (same slice and name, or a wider view such as a whole second)."""
        self.count += other.count
        self.errors += other.errors
        self.timeouts += other.timeouts
        self.degraded += other.degraded
        self.wrong += other.wrong
        for kind, n in other.error_kinds.items():
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + n
        if other._errors is not None:
            self._failed().merge(other._errors)
        if other._hot is not None:
            self._histogram().add(other._hot)
        elif other._encoded is None:
            pass  # nothing recorded
        elif self._hot is None and self._encoded is None:
            self._encoded = other._encoded  # into an empty value: nothing to decode
        else:
            self._histogram().add(decode(other._encoded))

    def histogram(self) -> HdrHistogram:
        """The latency histogram (read-only use: it may be this value's own)."""
        if self._hot is not None:
            return self._hot
        return new_histogram() if self._encoded is None else decode(self._encoded)

    def error_histogram(self) -> HdrHistogram | None:
        """The failed requests' latencies; None when none failed."""
        return None if self._errors is None else self._errors.histogram()

    def encoded(self) -> str:
        if self._encoded is None:
            self._encoded = encode(self._hot if self._hot is not None else new_histogram())
        return self._encoded

    def compact(self) -> None:
        """Keep only the encoded histogram (small); a later change decodes it again."""
        self.encoded()
        self._hot = None
        if self._errors is not None:
            self._errors.compact()

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "slice": self.slice,
            "name": self.name,
            "count": self.count,
            "errors": self.errors,
            "error_kinds": dict(self.error_kinds),
            "histogram": self.encoded(),
        }
        for field in _FIELD.values():  # absent when 0: old readers and small results
            if getattr(self, field):
                wire[field] = getattr(self, field)
        if self.width != 1:
            wire["slices"] = self.width
        if self._errors is not None:
            wire["error_histogram"] = self._errors.encoded()
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> SliceStats:
        stats = cls(int(wire["slice"]), str(wire["name"]), int(wire.get("slices", 1)))
        stats.count = int(wire["count"])
        stats.errors = int(wire["errors"])
        stats.error_kinds = {str(k): int(n) for k, n in wire["error_kinds"].items()}
        for field in _FIELD.values():
            setattr(stats, field, int(wire.get(field, 0)))
        stats._encoded = str(wire["histogram"])
        if wire.get("error_histogram"):  # absent: nothing failed (or an older record)
            stats._errors = SliceStats(stats.slice, stats.name)
            stats._errors.count = stats.errors
            stats._errors._encoded = str(wire["error_histogram"])
        return stats

    def to_bucket(self) -> SliceBucket:
        return SliceBucket.model_validate(self.to_wire())


@dataclass(frozen=True)
class LatencySplit:
    """The latencies of some buckets, successes and failures apart (for display only: the pN
    KPIs judge every request). `mixed`: some errors were recorded before error histograms
    were kept, so `ok` holds every request and `failed` only what could be told apart."""

    ok: HdrHistogram
    failed: HdrHistogram
    mixed: bool


def latency_split(buckets: Iterable[SliceBucket]) -> LatencySplit:
    buckets = list(buckets)
    total = merge(b.histogram for b in buckets)
    failed = merge(b.error_histogram for b in buckets if b.error_histogram)
    mixed = any(b.errors and not b.error_histogram for b in buckets)
    if mixed or not failed.get_total_count():
        return LatencySplit(total, failed, mixed)
    return LatencySplit(subtract(total, failed), failed, mixed)
