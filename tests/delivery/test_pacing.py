"""Pace and patience: token buckets over a simulated hour and day, backoff with jitter, Retry-After.

A FixedClock and a sleep that advances it stand in for time, so a day of rate limiting runs in well
under a second and every send can be placed on the time line exactly.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from outreach.clock import FixedClock
from outreach.delivery.pacing import Backoff, Pace, RateLimits, SlidingWindow
from tests.delivery.conftest import START as BENCH_START
from tests.delivery.conftest import Bench, FakeSleep, TimedMemory

START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
HOUR = 3600.0
DAY = 86400.0

# Defects these tests once exposed, now fixed: a batch larger than the limit was charged one bucket; a
# bucket that started full let nearly twice the limit through in the first window (now an exact sliding
# window); the runner sent whole transport batches as bursts (now capped at the tightest limit).


class Timeline:
    """Sends placed on the simulated time line: ``pace.acquire(n)`` then ``n`` sends at that moment."""

    def __init__(self, limits: RateLimits) -> None:
        self.clock = FixedClock(START)
        self.sleep = FakeSleep(self.clock, limit=10 * DAY)
        self.pace = Pace(limits, self.clock, self.sleep)
        self.times: list[float] = []

    def now(self) -> float:
        return (self.clock.now() - START).total_seconds()

    def send_until(self, seconds: float, batch: int = 1) -> None:
        while True:
            self.pace.acquire(batch)
            if self.now() >= seconds:
                return
            self.times.extend([self.now()] * batch)

    def in_window(self, start: float, length: float) -> int:
        return bisect_left(self.times, start + length) - bisect_left(self.times, start)

    def busiest(self, length: float) -> int:
        """The most sends in any window [t, t + length) (windows starting at a send are enough)."""
        return max((self.in_window(t, length) for t in self.times), default=0)

    def aligned(self, length: float, until: float) -> list[int]:
        return [self.in_window(k * length, length) for k in range(int(until // length))]


# -- the sliding-window guarantees -----------------------------------------------------------------------


WINDOWS = pytest.mark.parametrize(
    ("limits", "length", "limit", "until"),
    [
        (RateLimits(per_second=10), 1.0, 10, HOUR),
        (RateLimits(per_hour=120), HOUR, 120, 6 * HOUR),
        (RateLimits(per_day=500), DAY, 500, 3 * DAY),
    ],
    ids=["per-second-over-an-hour", "per-hour-over-6-hours", "per-day-over-3-days"],
)


@WINDOWS
def test_no_window_of_the_limits_length_holds_more_than_the_limit(
    limits: RateLimits, length: float, limit: int, until: float
) -> None:
    line = Timeline(limits)
    line.send_until(until)
    assert line.busiest(length) <= limit, line.aligned(length, until)[:3]


@WINDOWS
def test_every_window_is_used_in_full(limits: RateLimits, length: float, limit: int, until: float) -> None:
    line = Timeline(limits)
    line.send_until(until)
    counts = line.aligned(length, until)
    assert all(count == limit for count in counts), counts[:5]  # no capacity lost, none overdrawn
    assert len(line.times) == limit * round(until / length)


def test_all_limits_apply_together() -> None:
    line = Timeline(RateLimits(per_second=5, per_hour=100, per_day=300))
    line.send_until(DAY + HOUR)
    times = line.times
    # five a second...
    assert times[4] == 0.0 and times[5] == pytest.approx(1.0) and times[10] == pytest.approx(2.0)
    # ...until the hour's 100 are used (at 19 s); the next go when the first ones leave the hour
    assert times[99] == pytest.approx(19.0, abs=1e-3)
    assert times[100:105] == pytest.approx([HOUR] * 5, abs=1e-3)
    # the day's 300 are used in the first three hours; the next send waits for the day to turn
    assert line.in_window(0, DAY) == 300
    assert times[300] == pytest.approx(DAY, abs=1e-3)


def test_fractional_rates_space_single_sends() -> None:
    line = Timeline(RateLimits(per_second=0.5))
    assert line.pace.acquire(1) == 0.0
    for _ in range(4):
        assert line.pace.acquire(1) == pytest.approx(2.0, rel=1e-6)


def test_no_limits_never_sleep() -> None:
    line = Timeline(RateLimits())
    for _ in range(1000):
        assert line.pace.acquire(50) == 0.0
    assert line.sleep.calls == []
    assert RateLimits().describe() == "unlimited"
    assert RateLimits(per_second=10, per_hour=500, per_day=2000).describe() == "10/s, 500/h, 2000/day"


@pytest.mark.parametrize("rate", [0, -1])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        SlidingWindow(rate, 1.0, FixedClock(START))


# -- batches larger than the limit ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "batch"),
    [(RateLimits(per_hour=100), 250), (RateLimits(per_second=5, per_day=400), 50)],
    ids=["hourly-100-batch-of-250", "5-per-second-batch-of-50"],
)
def test_a_batch_larger_than_the_tightest_limit_is_refused(limits: RateLimits, batch: int) -> None:
    line = Timeline(limits)
    with pytest.raises(ValueError, match="split it"):
        line.pace.acquire(batch)
    assert line.pace.largest_batch is not None and line.pace.largest_batch < batch


class RecordingPace(Pace):
    """Notes when each grant was made and for how many sends (the rows are claimed and sent then)."""

    def __init__(self, limits: RateLimits, clock: FixedClock, sleep: FakeSleep) -> None:
        super().__init__(limits, clock, sleep)
        self.clock = clock
        self.grants: list[tuple[float, int]] = []

    def take(self, count: int) -> None:
        super().take(count)
        self.grants.append(((self.clock.now() - BENCH_START).total_seconds(), count))


def test_the_runner_keeps_to_rate_per_second_with_smtp_sized_batches(bench: Bench) -> None:
    bench.people(200)
    campaign = bench.campaign()
    memory = TimedMemory(bench.clock)
    memory.max_batch = 50  # the SMTP transport's default max_batch
    runner = bench.runner(campaign, memory, batch_size=200)
    pace = RecordingPace(RateLimits(per_second=5), bench.clock, bench.sleep)
    runner.pace = pace
    runner.run()
    assert bench.counts(campaign)["sent"] == 200
    seconds: Counter[int] = Counter()
    for moment, count in pace.grants:
        seconds[int(moment)] += count
    # the runner splits the transport's batches of 50 at the limit: never more than 5 in a second
    assert max(seconds.values()) <= 5, pace.grants
    assert max(count for _, count in pace.grants) <= 5


def test_the_runner_paces_message_by_message(bench: Bench) -> None:
    bench.people(60)
    campaign = bench.campaign()
    memory = TimedMemory(bench.clock)
    memory.max_batch = 1
    start = bench.clock.now()
    bench.run(campaign, memory, limits=RateLimits(per_second=5), batch_size=20)
    assert bench.counts(campaign)["sent"] == 60
    assert (bench.clock.now() - start).total_seconds() == pytest.approx((60 - 5) / 5, abs=0.3)
    assert memory.batches == [1] * 60


# -- backoff -----------------------------------------------------------------------------------------------


def test_backoff_doubles_within_jitter_bounds_until_the_cap() -> None:
    backoff = Backoff(base=30.0, cap=3600.0)
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(3600.0, 30.0 * 2 ** (attempt - 1))
        delays = [backoff.delay(attempt, rng) for _ in range(300)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempt
        # the jitter really spreads over the range (full jitter, not a constant)
        assert max(delays) - min(delays) > ceiling / 2 * 0.8
    lows = [min(backoff.delay(n, random.Random(n)) for _ in range(50)) for n in range(1, 9)]
    assert all(b > a for a, b in pairwise(lows))  # grows attempt after attempt


def test_backoff_is_capped() -> None:
    backoff = Backoff(base=30.0, cap=600.0)
    rng = random.Random(11)
    assert all(300.0 <= backoff.delay(n, rng) <= 600.0 for n in range(6, 60))


def test_backoff_respects_retry_after() -> None:
    backoff = Backoff(base=30.0, cap=600.0)
    # Retry-After longer than the jittered delay wins, even beyond the cap: the server said so
    assert backoff.delay(1, random.Random(1), at_least=120.0) == 120.0
    assert backoff.delay(9, random.Random(1), at_least=7200.0) == 7200.0
    # a shorter Retry-After does not shorten the backoff
    plain = backoff.delay(3, random.Random(5))
    assert backoff.delay(3, random.Random(5), at_least=1.0) == plain
    assert backoff.delay(3, random.Random(5), at_least=None) == plain


def test_backoff_is_deterministic_with_a_seeded_rng() -> None:
    backoff = Backoff()
    first = [backoff.delay(n, random.Random(42)) for n in range(1, 6)]
    again = [backoff.delay(n, random.Random(42)) for n in range(1, 6)]
    assert first == again
