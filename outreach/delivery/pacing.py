"""Pace and patience: sliding windows for the rate limits, exponential backoff with jitter for retries.

``Pace`` keeps its windows in this process: the runner uses it for ``rate_per_second``. The per-hour
and per-day limits must hold across runs and processes, so the runner counts them from the ledger
(``limits.py``). The clock and the sleep are injected so tests can run an hour of rate limiting in a
millisecond.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from outreach.clock import Clock


class SlidingWindow:
    """At most ``limit`` sends in any ``period`` seconds, counted exactly.

    A token bucket lets up to twice its limit through in one window (a full bucket plus its refill),
    which breaks a provider's daily quota; a log of recent sends does not. Entries are per batch, so
    the log stays as short as the number of batches in one window.
    """

    def __init__(self, limit: float, period: float, clock: Clock) -> None:
        if limit <= 0 or period <= 0:
            raise ValueError("a rate limit must be positive")
        if limit < 1:  # 0.5 a second is one send in any two seconds
            limit, period = 1, period / limit
        self.limit = int(limit)
        self.period = timedelta(seconds=period)
        self.clock = clock
        self.log: deque[tuple[datetime, int]] = deque()
        self.used = 0

    def _forget(self, now: datetime) -> None:
        while self.log and self.log[0][0] + self.period <= now:
            self.used -= self.log.popleft()[1]

    def wait_for(self, count: int) -> float:
        """Seconds until ``count`` more sends fit in the window (0 when they do now)."""
        now = self.clock.now()
        self._forget(now)
        excess = self.used + min(count, self.limit) - self.limit
        if excess <= 0:
            return 0.0
        for stamp, sent in self.log:
            excess -= sent
            if excess <= 0:
                return max((stamp + self.period - now).total_seconds(), 1e-6)
        return self.period.total_seconds()

    def take(self, count: int) -> None:
        self.log.append((self.clock.now(), count))
        self.used += count

    def room(self) -> int:
        """How many sends fit in the window now."""
        self._forget(self.clock.now())
        return max(self.limit - self.used, 0)


@dataclass(frozen=True)
class RateLimits:
    """A transport's limits from outreach.toml (``rate_per_second``, ``rate_per_hour``, ``rate_per_day``)."""

    per_second: float | None = None
    per_hour: float | None = None
    per_day: float | None = None

    def per_process(self) -> RateLimits:
        """The limits one process keeps by itself (per hour and per day are counted from the ledger)."""
        return RateLimits(per_second=self.per_second)

    def describe(self) -> str:
        parts = [
            f"{value:g}/{unit}"
            for value, unit in ((self.per_second, "s"), (self.per_hour, "h"), (self.per_day, "day"))
            if value
        ]
        return ", ".join(parts) or "unlimited"


class Pace:
    """All of a transport's windows together: a send waits until every one of them allows it."""

    def __init__(self, limits: RateLimits, clock: Clock, sleep: Callable[[float], None]) -> None:
        self.sleep = sleep
        self.buckets = [
            SlidingWindow(rate, per, clock)
            for rate, per in ((limits.per_second, 1.0), (limits.per_hour, 3600.0), (limits.per_day, 86400.0))
            if rate
        ]

    @property
    def largest_batch(self) -> int | None:
        """The most messages one send may carry without bursting past the tightest limit."""
        return min((bucket.limit for bucket in self.buckets), default=None)

    def room(self) -> int | None:
        """How many sends every window allows right now (None: no limit at all)."""
        return min((bucket.room() for bucket in self.buckets), default=None)

    def wait_for(self, count: int) -> float:
        """Seconds until ``count`` sends fit in every window (0 when they do now)."""
        return max((bucket.wait_for(count) for bucket in self.buckets), default=0.0)

    def take(self, count: int) -> None:
        """Count ``count`` sends made now."""
        for bucket in self.buckets:
            bucket.take(count)

    def acquire(self, count: int) -> float:
        """Block until ``count`` sends are allowed; returns the seconds waited.

        A batch larger than the tightest limit could only go out as a burst over that limit, so it is
        refused: callers split batches at ``largest_batch`` (the runner does).
        """
        largest = self.largest_batch
        if largest is not None and count > largest:
            raise ValueError(f"a batch of {count} exceeds the rate limit of {largest}; split it")
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
