"""List health: complaints and bounces of recent mail against what the mailbox providers allow, in words.

The thresholds live here and only here. Since February 2024 Gmail and Yahoo require bulk senders to
keep the spam complaint rate their users report under 0.3% (Gmail asks for under 0.1%); there is no
published bounce limit, but senders and providers treat more than 2% of mail bouncing as a list that
needs cleaning, and Amazon SES reviews an account whose bounces reach 5%. Rates are per message sent
in the last ``WINDOW_DAYS`` days, the way providers look at a sender.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.delivery.schema import Campaign, CampaignStatus, Delivery, DeliveryState
from outreach.events.figures import campaign_counts, refused_rows
from outreach.events.model import EventKind

WINDOW_DAYS = 30


class Level(StrEnum):
    GOOD = "good"
    WATCH = "watch"
    BAD = "bad"


@dataclass(frozen=True)
class Threshold:
    """A rate that is fine below ``good``, worth watching below ``limit``, and harmful above it."""

    what: str
    good: float
    limit: float
    limit_words: str  # the limit as a coordinator would say it, "{}" for the percentage
    good_words: str
    advice: str  # what to do when it is over


COMPLAINTS = Threshold(
    "Complaints",
    good=0.001,
    limit=0.003,
    limit_words="the {} Gmail and Yahoo allow",
    good_words="the {} Gmail asks for",
    advice="Mail may go to spam or be refused. Send only to people who asked for this mail, say at the "
    "top who it is from and why they get it, and make leaving easy.",
)
BOUNCES = Threshold(
    "Bounces",
    good=0.02,
    limit=0.05,
    limit_words="the {} at which Amazon SES reviews a sender",
    good_words="the {} a healthy list stays under",
    advice="Providers take many bounces as a sign of an old or bought list. Remove addresses that no "
    "longer work and do not import lists nobody has mailed for a long time.",
)


@dataclass(frozen=True)
class Health:
    """One rate of recent mail, judged, with the sentence a coordinator reads."""

    threshold: Threshold
    count: int
    sent: int
    level: Level
    words: str

    @property
    def rate(self) -> float:
        return self.count / self.sent if self.sent else 0.0


def percent(share: float) -> str:
    """A threshold as people write it: 0.3%, 2%."""
    return f"{share * 100:.1f}".removesuffix(".0") + "%"


def judge(threshold: Threshold, count: int, sent: int, days: int = WINDOW_DAYS) -> Health:
    """The sentence for ``count`` of ``sent`` messages in the last ``days`` days."""
    what = threshold.what
    if not sent:
        return Health(
            threshold, count, sent, Level.GOOD, f"{what}: nothing was sent in the last {days} days."
        )
    rate = count / sent
    said = f"{what}: {rate:.2%} of mail sent in the last {days} days ({count:,} of {sent:,})"
    limit = threshold.limit_words.format(percent(threshold.limit))
    good = threshold.good_words.format(percent(threshold.good))
    if rate < threshold.good:
        words = f"{said} — well under {limit}."
        return Health(threshold, count, sent, Level.GOOD, words)
    if rate < threshold.limit:
        words = f"{said} — under {limit}, but over {good}. Keep an eye on it."
        return Health(threshold, count, sent, Level.WATCH, words)
    words = f"{said} — over {limit}. {threshold.advice}"
    return Health(threshold, count, sent, Level.BAD, words)


def recent_campaigns(session: Session, now: datetime, days: int = WINDOW_DAYS) -> list[int]:
    """Campaigns that sent mail in the window: started or finished in it, or sending still."""
    since = now - timedelta(days=days)
    return list(
        session.scalars(
            sa.select(Campaign.id).where(
                sa.or_(
                    Campaign.started_at >= since,
                    Campaign.finished_at >= since,
                    Campaign.status.in_([CampaignStatus.SENDING, CampaignStatus.PAUSED]),
                )
            )
        )
    )


def list_health(session: Session, now: datetime, days: int = WINDOW_DAYS) -> tuple[Health, Health]:
    """Complaints and bounces per message sent by the campaigns of the last ``days`` days."""
    sent = complained = bounced = 0
    for campaign_id in recent_campaigns(session, now, days):
        accepted = sa.select(sa.func.count()).where(
            Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.SENT
        )
        refused = sa.select(sa.func.count()).where(*refused_rows(campaign_id))
        sent += int(session.scalar(accepted) or 0) + int(session.scalar(refused) or 0)
        counts = campaign_counts(session, campaign_id)
        complained += counts[EventKind.COMPLAINED.value]
        bounced += counts[EventKind.BOUNCED_HARD.value] + counts[EventKind.BOUNCED_SOFT.value]
    return judge(COMPLAINTS, complained, sent, days), judge(BOUNCES, bounced, sent, days)
