"""`SliceStats`: what one request name did in one slice, as one mergeable value.

The worker records into it, ships it as a wire dict (the `SliceBucket` fields), and the
parent merges each arriving delta into its own value for that (slice, name) — exact, since
HDR histograms add. The histogram is held decoded ("hot") while it changes and as its encoded
form once compacted: a decoded histogram is ~140 KB, an encoded one a few hundred bytes, so
a long run keeps only its recently changed slices decoded.
"""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

from reports.hdr import decode, encode, new_histogram
from reports.model import SliceBucket


class SliceStats:
    """Count, errors, errors by kind and latency histogram (µs) of one (slice, name)."""

    __slots__ = ("_encoded", "_hot", "count", "error_kinds", "errors", "name", "slice")

    def __init__(self, slice_index: int, name: str) -> None:
        self.slice = slice_index
        self.name = name
        self.count = 0
        self.errors = 0
        self.error_kinds: dict[str, int] = {}
        self._hot: HdrHistogram | None = None
        self._encoded: str | None = None  # the histogram's encoding, valid until it changes

    def _histogram(self) -> HdrHistogram:
        if self._hot is None:
            self._hot = new_histogram() if self._encoded is None else decode(self._encoded)
        self._encoded = None  # about to change
        return self._hot

    def record(self, latency_us: int, error: str | None = None) -> None:
        self._histogram().record_value(latency_us)
        self.count += 1
        if error is not None:
            self.errors += 1
            self.error_kinds[error] = self.error_kinds.get(error, 0) + 1

    def merge(self, other: SliceStats) -> None:
        """Add `other` (same slice and name, or a wider view such as a whole second)."""
        self.count += other.count
        self.errors += other.errors
        for kind, n in other.error_kinds.items():
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + n
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

    def encoded(self) -> str:
        if self._encoded is None:
            self._encoded = encode(self._hot if self._hot is not None else new_histogram())
        return self._encoded

    def compact(self) -> None:
        """Keep only the encoded histogram (small); a later change decodes it again."""
        self.encoded()
        self._hot = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "slice": self.slice,
            "name": self.name,
            "count": self.count,
            "errors": self.errors,
            "error_kinds": dict(self.error_kinds),
            "histogram": self.encoded(),
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> SliceStats:
        stats = cls(int(wire["slice"]), str(wire["name"]))
        stats.count = int(wire["count"])
        stats.errors = int(wire["errors"])
        stats.error_kinds = {str(k): int(n) for k, n in wire["error_kinds"].items()}
        stats._encoded = str(wire["histogram"])
        return stats

    def to_bucket(self) -> SliceBucket:
        return SliceBucket.model_validate(self.to_wire())
