"""Pace and patience: token buckets for the rate limits, exponential backoff with jitter for retries.

The clock and the sleep are injected so tests can run an hour of rate limiting in a millisecond.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from outreach.clock import Clock


class TokenBucket:
    """``rate`` sends per ``per`` seconds, allowing a burst of up to ``rate`` at once."""

    def __init__(self, rate: float, per: float, clock: Clock) -> None:
        if rate <= 0 or per <= 0:
            raise ValueError("a rate limit must be positive")
        self.capacity = rate
        self.fill_per_second = rate / per
        self.clock = clock
        self.tokens = rate
        self.stamp = clock.now()

    def _refill(self) -> None:
        now = self.clock.now()
        elapsed = max(0.0, (now - self.stamp).total_seconds())
        self.tokens = min(self.capacity, self.tokens + elapsed * self.fill_per_second)
        self.stamp = now

    def wait_for(self, count: float) -> float:
        """Seconds until ``count`` tokens are there (0 when they are).

        A batch larger than the bucket only waits for a full bucket (so it never deadlocks) and then
        leaves the bucket in debt, which the following sends wait out: over any stretch of time the
        rate holds, whatever the batch size.
        """
        self._refill()
        wanted = min(count, self.capacity)
        return 0.0 if self.tokens >= wanted else (wanted - self.tokens) / self.fill_per_second

    def take(self, count: float) -> None:
        self._refill()
        self.tokens -= count


@dataclass(frozen=True)
class RateLimits:
    """A transport's limits from outreach.toml (``rate_per_second``, ``rate_per_hour``, ``rate_per_day``)."""

    per_second: float | None = None
    per_hour: float | None = None
    per_day: float | None = None

    def describe(self) -> str:
        parts = [
            f"{value:g}/{unit}"
            for value, unit in ((self.per_second, "s"), (self.per_hour, "h"), (self.per_day, "day"))
            if value
        ]
        return ", ".join(parts) or "unlimited"


class Pace:
    """All of a transport's buckets together: a send waits until every one of them allows it."""

    def __init__(self, limits: RateLimits, clock: Clock, sleep: Callable[[float], None]) -> None:
        self.sleep = sleep
        self.buckets = [
            TokenBucket(rate, per, clock)
            for rate, per in ((limits.per_second, 1.0), (limits.per_hour, 3600.0), (limits.per_day, 86400.0))
            if rate
        ]

    def acquire(self, count: int) -> float:
        """Block until ``count`` sends are allowed; returns the seconds waited."""
        waited = 0.0
        while True:
            wait = max((bucket.wait_for(count) for bucket in self.buckets), default=0.0)
            if wait <= 0:
                for bucket in self.buckets:
                    bucket.take(count)
                return waited
            self.sleep(wait)
            waited += wait


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: retry n waits about ``base * 2**(n-1)`` seconds."""

    base: float = 30.0
    cap: float = 3600.0

    def delay(self, attempt: int, rng: random.Random, at_least: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        delay = rng.uniform(ceiling / 2, ceiling)
        return max(delay, at_least or 0.0)
