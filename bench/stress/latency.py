"""A log-bucketed latency histogram that merges across processes and answers percentiles.

16 buckets per power of two (about 4.4% wide) from 1 µs up: small enough to send through a
multiprocessing queue every half second, fine enough for p50/p99 comparisons.
"""

from __future__ import annotations

import math

BUCKETS_PER_OCTAVE = 16
MAX_BUCKET = BUCKETS_PER_OCTAVE * 30     # 2**30 µs, about 18 minutes: nothing waits that long


class LatencyHistogram:
    __slots__ = ("counts", "total", "sum_us", "max_us")

    def __init__(self):
        self.counts: dict[int, int] = {}
        self.total = 0
        self.sum_us = 0.0
        self.max_us = 0.0

    def add(self, seconds: float) -> None:
        us = seconds * 1e6
        bucket = 0 if us <= 1.0 else min(MAX_BUCKET, int(math.log2(us) * BUCKETS_PER_OCTAVE) + 1)
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.total += 1
        self.sum_us += us
        if us > self.max_us:
            self.max_us = us

    def merge(self, other: "LatencyHistogram") -> None:
        for bucket, n in other.counts.items():
            self.counts[bucket] = self.counts.get(bucket, 0) + n
        self.total += other.total
        self.sum_us += other.sum_us
        self.max_us = max(self.max_us, other.max_us)

    def percentile(self, p: float) -> float | None:
        """Upper edge of the bucket holding the p-th percentile, in µs; None when empty."""
        if not self.total:
            return None
        rank = max(1, math.ceil(self.total * p / 100.0))
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return min(self.max_us, 2.0 ** (bucket / BUCKETS_PER_OCTAVE))
        return self.max_us

    def mean(self) -> float | None:
        return self.sum_us / self.total if self.total else None

    def to_dict(self) -> dict:
        return {"counts": {str(k): v for k, v in self.counts.items()}, "total": self.total,
                "sum_us": self.sum_us, "max_us": self.max_us}

    @classmethod
    def from_dict(cls, data: dict) -> "LatencyHistogram":
        hist = cls()
        hist.counts = {int(k): v for k, v in data.get("counts", {}).items()}
        hist.total = data.get("total", 0)
        hist.sum_us = data.get("sum_us", 0.0)
        hist.max_us = data.get("max_us", 0.0)
        return hist

    def summary(self) -> dict:
        return {"count": self.total, "mean_us": self.mean(), "p50_us": self.percentile(50),
                "p90_us": self.percentile(90), "p99_us": self.percentile(99),
                "p999_us": self.percentile(99.9), "max_us": self.max_us if self.total else None}
