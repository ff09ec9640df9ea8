"""Per-hour and per-day limits hold across runs, campaigns and processes: they are counted from the ledger.

Each run here is a new runner (its own pace, nothing shared in memory), as a second ``outreach send`` or
another worker would be; time is the bench's FixedClock, moved by the runners' fake sleep.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import replace
from datetime import datetime, timedelta

from outreach.audience import transaction
from outreach.delivery.limits import LedgerLimits
from outreach.delivery.pacing import RateLimits
from tests.delivery.conftest import Bench, TimedMemory
from tests.delivery.test_ledger import not_attempted

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def busiest(times: list[datetime], window: timedelta) -> int:
    """The most sends in any window [t, t + window) that starts at a send."""
    ordered = sorted(times)
    return max((bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0)


def test_a_daily_limit_holds_across_runs_and_campaigns(bench: Bench) -> None:
    bench.people(40)
    first = bench.campaign(limit=20)
    second_issue = replace(bench.compiled, issue=replace(bench.compiled.issue, slug="2027-01-next-issue"))
    second = bench.campaign(compiled=second_issue)
    limits = RateLimits(per_day=25)
    runs = [TimedMemory(bench.clock) for _ in range(3)]

    bench.run(first, runs[0], wait=False, limits=limits)
    assert bench.counts(first)["sent"] == 20
    bench.run(second, runs[1], wait=False, limits=limits)  # a second run the same day: 5 places left
    assert bench.counts(second)["sent"] == 5
    assert bench.counts(second)["pending"] == 35
    assert bench.status(second)[0] == "sending"  # waiting for the window, not finished

    bench.clock.advance(DAY.total_seconds())
    bench.run(second, runs[2], wait=False, limits=limits)
    assert bench.counts(second)["sent"] == 30
    times = [when for run in runs for when, _ in run.times]
    assert len(times) == 50
    assert busiest(times, DAY) == 25


def test_a_run_that_may_wait_sleeps_until_the_window_has_room(bench: Bench) -> None:
    bench.people(30)
    campaign = bench.campaign()
    memory = TimedMemory(bench.clock)
    start = bench.clock.now()
    bench.run(campaign, memory, limits=RateLimits(per_hour=10), batch_size=20)
    assert bench.counts(campaign)["sent"] == 30
    times = [when for when, _ in memory.times]
    assert busiest(times, HOUR) == 10
    # three hourly windows' worth: the last ten go as soon as the second hour has passed
    assert bench.clock.now() - start < 2 * HOUR + timedelta(minutes=1)


def test_another_process_counts_what_this_one_sent_through_the_same_transport(bench: Bench) -> None:
    bench.people(6)
    campaign = bench.campaign()
    # a run that may not wait long (as `outreach send`) stops when the window is full
    bench.run(campaign, TimedMemory(bench.clock), wait=False, limits=RateLimits(per_hour=5), idle_wait=5.0)
    assert bench.counts(campaign)["sent"] == 5
    fresh = LedgerLimits("memory", RateLimits(per_hour=5))  # nothing in memory: it counts the ledger
    with transaction(bench.engine) as session:
        fresh.take_turn(session)
        allowed, wait = fresh.allowance(session, bench.clock.now(), 1)
    assert allowed == 0 and 0 < wait <= HOUR.total_seconds()
    other = LedgerLimits("another-transport", RateLimits(per_hour=5))  # limits are per transport
    with transaction(bench.engine) as session:
        assert other.allowance(session, bench.clock.now(), 5) == (5, 0.0)


def test_rows_that_went_back_to_pending_stop_counting(bench: Bench) -> None:
    bench.people(4)
    campaign = bench.campaign()
    stopped = [not_attempted(retry_after=3600.0) for _ in range(4)]
    bench.run(campaign, TimedMemory(bench.clock, stopped), wait=False, limits=RateLimits(per_hour=4))
    assert bench.counts(campaign)["pending"] == 4  # claimed, then not handed over
    limits = LedgerLimits("memory", RateLimits(per_hour=4))
    with transaction(bench.engine) as session:
        assert limits.allowance(session, bench.clock.now(), 4) == (4, 0.0)
