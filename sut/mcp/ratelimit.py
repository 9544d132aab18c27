"""A token bucket: the gateway's requests-per-minute limit.

Refills at rpm/60 tokens per second up to a capacity of one second's worth (at least one token),
so a steady rate under the limit always passes and a burst above it is cut after one second's
worth. The clock is injectable so the unit test needs no sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_minute < 1:
            raise ValueError(f"rate_per_minute must be >= 1, got {rate_per_minute}")
        self.rate_per_s = rate_per_minute / 60.0
        self.capacity = max(1.0, self.rate_per_s)
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now

    def try_acquire(self) -> bool:
        """Take one token if there is one; never blocks."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def retry_after_s(self) -> float:
        """Seconds until the next token is available (0 if one is there now)."""
        self._refill()
        return max(0.0, (1.0 - self._tokens) / self.rate_per_s)
