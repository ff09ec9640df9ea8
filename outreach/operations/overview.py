"""The dashboard's figures: the list, its growth, the last campaigns, what is next, and list health.

Everything is counted in the database (``GROUP BY``, never a row per subscriber in Python) and read
through existing indexes where one fits: statuses through the status index, topics through the
topic index minus the (few) people who are not active, the ledger through its campaign index. The
figures that must scan a large table (languages, the year of consent history) are why the admin app
keeps the whole dashboard for a minute (``outreach.operations.kept``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.schema import (
    ConsentAction,
    ConsentEvent,
    ConsentMethod,
    Subscriber,
    SubscriberStatus,
    SubscriberTopic,
    Topic,
)
from outreach.charts import Chart, Series
from outreach.delivery.schema import Campaign, CampaignStatus
from outreach.events.figures import CampaignReport, campaign_report
from outreach.operations.health import Health, list_health
from outreach.operations.hours import hour_number, start_of

WEEKS = 52
RECENT = 5
NOT_ACTIVE = [status for status in SubscriberStatus if status is not SubscriberStatus.ACTIVE]


@dataclass(frozen=True)
class Subscribers:
    """Who is on the list: by status, and the active ones by topic and by language."""

    by_status: dict[str, int]
    by_topic: list[tuple[str, str, int]]  # (key, name, active subscribers)
    by_language: list[tuple[str, int]]  # (language, active subscribers), most first

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def active(self) -> int:
        return self.by_status[SubscriberStatus.ACTIVE.value]


@dataclass(frozen=True)
class Growth:
    """Per week (Monday to Sunday in the site's zone): sign-ups, confirmations, unsubscribes, bounces."""

    weeks: tuple[date, ...]
    signups: tuple[int, ...]
    confirmations: tuple[int, ...]
    unsubscribes: tuple[int, ...]
    bounces: tuple[int, ...]

    def chart(self) -> Chart:
        return Chart(
            key="growth",
            title="Growth over the last 12 months",
            description="People who signed up or were added, confirmed, unsubscribed or bounced "
            "(their address stopped working), per week.",
            labels=tuple(f"{week.day} {week:%b}" for week in self.weeks),
            label_heading="Week of",
            series=(
                Series("Sign-ups", self.signups),
                Series("Confirmations", self.confirmations),
                Series("Unsubscribes", self.unsubscribes),
                Series("Bounces", self.bounces),
            ),
        )


@dataclass(frozen=True)
class CampaignLine:
    """A campaign on the dashboard or the campaigns list, with its key figures."""

    id: int
    issue: str
    subject: str
    status: str
    created_at: datetime
    started_at: datetime | None
    send_at: datetime | None
    figures: CampaignReport

    @property
    def recipients(self) -> int:
        return sum(self.figures.recipients.values())

    @property
    def sent(self) -> int:
        return self.figures.sent


@dataclass(frozen=True)
class Dashboard:
    subscribers: Subscribers
    growth: Growth
    campaigns: list[CampaignLine]
    scheduled: list[CampaignLine]
    health: tuple[Health, Health]
    as_of: datetime


def subscribers_by_status(session: Session) -> dict[str, int]:
    """How many subscribers are in each status (every status listed, zeros included)."""
    found = dict(
        session.execute(sa.select(Subscriber.status, sa.func.count()).group_by(Subscriber.status)).all()
    )
    return {status.value: int(found.get(status, 0)) for status in SubscriberStatus}


def active_by_topic(session: Session) -> list[tuple[str, str, int]]:
    """Active subscribers per topic: everyone in the topic (its index) less those not active."""
    everyone = dict(
        session.execute(
            sa.select(SubscriberTopic.topic_key, sa.func.count()).group_by(SubscriberTopic.topic_key)
        ).all()
    )
    inactive = Counter(
        dict(
            session.execute(
                sa.select(SubscriberTopic.topic_key, sa.func.count())
                .join(Subscriber, Subscriber.id == SubscriberTopic.subscriber_id)
                .where(Subscriber.status.in_(NOT_ACTIVE))
                .group_by(SubscriberTopic.topic_key)
            ).all()
        )
    )
    names = dict(session.execute(sa.select(Topic.key, Topic.name)).all())
    return [
        (str(key), str(names.get(key, key)), int(everyone.get(key, 0)) - int(inactive[key]))
        for key in sorted(names)
    ]


def active_by_language(session: Session) -> list[tuple[str, int]]:
    rows = session.execute(
        sa.select(Subscriber.language, sa.func.count())
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .group_by(Subscriber.language)
    ).all()
    return sorted(((str(lang or "?"), int(n)) for lang, n in rows), key=lambda row: (-row[1], row[0]))


def week_of(moment: datetime, zone: tzinfo) -> date:
    """The Monday of the week ``moment`` falls in, in ``zone``."""
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


def growth(session: Session, now: datetime, zone: tzinfo, weeks: int = WEEKS) -> Growth:
    """The last ``weeks`` weeks (this one included) of the consent log, counted per hour in SQL."""
    this_week = week_of(now, zone)
    first = this_week - timedelta(weeks=weeks - 1)
    since = datetime.combine(first, datetime.min.time(), zone)
    hour = hour_number(ConsentEvent.at)
    kinds = [ConsentAction.SUBSCRIBED, ConsentAction.CONFIRMED, ConsentAction.UNSUBSCRIBED]
    counted = sa.or_(
        ConsentEvent.action.in_(kinds),
        sa.and_(ConsentEvent.action == ConsentAction.SUPPRESSED, ConsentEvent.method == ConsentMethod.BOUNCE),
    )
    rows = session.execute(
        sa.select(ConsentEvent.action, hour, sa.func.count())
        .where(ConsentEvent.at >= since, counted)
        .group_by(ConsentEvent.action, hour)
    ).all()
    series = {action: [0] * weeks for action in [*kinds, ConsentAction.SUPPRESSED]}
    for action, number, count in rows:
        index = (week_of(start_of(int(number)), zone) - first).days // 7
        if 0 <= index < weeks:
            series[ConsentAction(action)][index] += int(count)
    return Growth(
        weeks=tuple(first + timedelta(weeks=i) for i in range(weeks)),
        signups=tuple(series[ConsentAction.SUBSCRIBED]),
        confirmations=tuple(series[ConsentAction.CONFIRMED]),
        unsubscribes=tuple(series[ConsentAction.UNSUBSCRIBED]),
        bounces=tuple(series[ConsentAction.SUPPRESSED]),
    )


def campaign_line(session: Session, campaign: Campaign) -> CampaignLine:
    return CampaignLine(
        campaign.id,
        campaign.issue_slug,
        campaign.subject,
        str(campaign.status),
        campaign.created_at,
        campaign.started_at,
        campaign.send_at,
        campaign_report(session, campaign.id),
    )


def recent_campaigns(session: Session, limit: int = RECENT) -> list[CampaignLine]:
    """The newest campaigns that are not waiting for their time, newest first."""
    found = session.scalars(
        sa.select(Campaign)
        .where(Campaign.status != CampaignStatus.SCHEDULED)
        .order_by(Campaign.id.desc())
        .limit(limit)
    )
    return [campaign_line(session, campaign) for campaign in found]


def scheduled_next(session: Session, limit: int = RECENT) -> list[CampaignLine]:
    """Campaigns waiting for their time, soonest first."""
    found = session.scalars(
        sa.select(Campaign)
        .where(Campaign.status == CampaignStatus.SCHEDULED)
        .order_by(Campaign.send_at.is_(None), Campaign.send_at, Campaign.id)
        .limit(limit)
    )
    return [campaign_line(session, campaign) for campaign in found]


def dashboard(session: Session, now: datetime, zone: tzinfo) -> Dashboard:
    """Everything the dashboard shows, as of ``now``."""
    subscribers = Subscribers(
        subscribers_by_status(session), active_by_topic(session), active_by_language(session)
    )
    return Dashboard(
        subscribers=subscribers,
        growth=growth(session, now, zone),
        campaigns=recent_campaigns(session),
        scheduled=scheduled_next(session),
        health=list_health(session, now),
        as_of=now,
    )
