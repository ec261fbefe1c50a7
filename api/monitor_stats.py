"""Latency figures of the HJ 212 receiver, kept in constant memory for a long-running process."""

from __future__ import annotations

import math
from collections import Counter

GROWTH = 1.05  # each bucket is 5 % wider than the one before: percentiles within 5 %
_LOG_GROWTH = math.log(GROWTH)


class LatencyHistogram:
    """Milliseconds in log-spaced buckets: count, maximum and percentiles (a bucket's upper
    bound, so at most 5 % above the true value) of every sample since the start."""

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.max = 0.0

    def add(self, ms: float) -> None:
        """Record one latency."""
        self.buckets[math.ceil(math.log(max(ms, 1.0)) / _LOG_GROWTH)] += 1
        self.count += 1
        self.max = max(self.max, ms)

    def percentile(self, share: float) -> float | None:
        """The latency `share` (0–1) of the samples are at or under (None without samples)."""
        if not self.count:
            return None
        rank, seen = math.ceil(share * self.count), 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return min(GROWTH**bucket, self.max)
        return self.max

    def describe(self, name: str) -> str:
        """`name_n=… name_p50_ms=… name_p99_ms=… name_max_ms=…` (for the summary line)."""
        if not self.count:
            return f"{name}_n=0"
        p50, p99 = self.percentile(0.5), self.percentile(0.99)
        return (
            f"{name}_n={self.count} {name}_p50_ms={p50:.0f} {name}_p99_ms={p99:.0f}"
            f" {name}_max_ms={self.max:.0f}"
        )
