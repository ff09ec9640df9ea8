"""A per-key token bucket in memory, on the injected clock: sign-ups per IP, mails per address.

In memory is enough for one ``outreach serve`` process (the service is small); behind several
processes each keeps its own buckets, which only makes the limit a few times looser.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from outreach.clock import Clock


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """``capacity`` requests at once, refilled at ``capacity`` per ``period`` seconds."""

    def __init__(self, capacity: int, period: float, clock: Clock, max_keys: int = 50_000) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / period
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0.0 if allowed (and counted); otherwise the seconds to wait before the next try."""
        now = self.clock.now().timestamp()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._forget_full(now)
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (they equal a new one); if none, the oldest half."""
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.capacity]
        if not full:
            full = sorted(self._buckets, key=lambda k: self._buckets[k].at)[: len(self._buckets) // 2]
        for key in full:
            del self._buckets[key]
