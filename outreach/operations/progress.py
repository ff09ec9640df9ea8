"""Where a campaign stands while it sends: the ledger's states, how fast it goes, how long is left.

The counts come from the ledger (one grouped count through its campaign index). The rate is measured
by whoever watches: ``RateMeter`` keeps the last half minute of counts and divides, so following a
campaign costs no query beyond the count; a single look (a page without script) gets the average
since the campaign started instead.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from outreach.clock import utc
from outreach.delivery import ledger
from outreach.delivery.campaigns import get_campaign
from outreach.delivery.schema import CampaignStatus

WINDOW_SECONDS = 30.0
LIVE = (CampaignStatus.SENDING,)


@dataclass(frozen=True)
class Progress:
    """One look at a campaign: its status, its ledger counts, its rate (per minute) and time left."""

    campaign_id: int
    status: str
    pause_reason: str
    counts: dict[str, int]
    per_minute: float | None
    at: datetime

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def waiting(self) -> int:
        return self.counts["pending"] + self.counts["sending"]

    @property
    def done(self) -> int:
        return self.total - self.waiting

    @property
    def live(self) -> bool:
        """Still sending: worth looking again in a second."""
        return self.status in LIVE

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)

    @property
    def seconds_left(self) -> float | None:
        if not self.waiting:
            return 0.0
        if not self.live or not self.per_minute:
            return None
        return 60 * self.waiting / self.per_minute

    @property
    def rate_words(self) -> str:
        if not self.live:
            return "not sending now"
        if self.per_minute is None:
            return "not measured yet"
        return f"{self.per_minute:,.0f} a minute"

    @property
    def left_words(self) -> str:
        left = self.seconds_left
        if left == 0:
            return "nothing left to send"
        if left is None:
            return "not sending now" if not self.live else "not known yet"
        return "about " + duration(left)

    def as_event(self) -> dict[str, Any]:
        """What the live page fills in (``data-field`` names), as JSON for the event stream."""
        return {
            **{state: f"{count:,}" for state, count in self.counts.items()},
            "status": self.status,
            "pause_reason": self.pause_reason,
            "total": f"{self.total:,}",
            "done": f"{self.done:,}",
            "percent": self.percent,
            "rate": self.rate_words,
            "left": self.left_words,
            "finished": not self.live,
        }


def duration(seconds: float) -> str:
    """``40 seconds``, ``12 minutes``, ``3 hours 5 minutes``: the way people say how long."""
    if seconds < 90:
        return f"{max(1, round(seconds))} seconds"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} hours" + (f" {minutes} minutes" if minutes else "")


class RateMeter:
    """Messages finished per minute over the last ``window`` seconds of successive looks."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self._window = timedelta(seconds=window)
        self._looks: deque[tuple[datetime, int]] = deque()

    def add(self, at: datetime, done: int) -> float | None:
        """Record a look; the rate once two looks are at least a second apart."""
        self._looks.append((at, done))
        while len(self._looks) > 2 and at - self._looks[1][0] >= self._window:
            self._looks.popleft()
        first_at, first_done = self._looks[0]
        seconds = (at - first_at).total_seconds()
        if seconds < 1:
            return None
        return max(0.0, 60 * (done - first_done) / seconds)


def campaign_progress(
    session: Session, campaign_id: int, now: datetime, meter: RateMeter | None = None
) -> Progress:
    """A look at the campaign now; with a ``meter``, the rate it measures across looks."""
    campaign = get_campaign(session, campaign_id)
    counts = ledger.counts(session, campaign_id)
    done = sum(counts.values()) - counts["pending"] - counts["sending"]
    rate = meter.add(now, done) if meter is not None else None
    if rate is None and campaign.started_at is not None and campaign.status in LIVE:
        seconds = (now - utc(campaign.started_at)).total_seconds()
        rate = 60 * done / seconds if seconds >= 1 else None
    return Progress(campaign.id, str(campaign.status), campaign.pause_reason, counts, rate, now)
