"""Freeze a scheduled campaign's audience into the ledger at its due time, not when it was scheduled.

``create_campaign`` snapshots at creation; a scheduled campaign is created weeks ahead, so people who
join or leave in between must count. This is the same INSERT ... SELECT (nothing passes through
Python) for a campaign row that already exists. With per-recipient local time, each row's
``next_attempt_at`` is that recipient's own 09:00: the runner only claims rows that are due, so the
campaign trickles out zone by zone with no extra machinery. Each recipient's due time is judged on its
own: a row whose local time passed more than the grace before the start is skipped as missed, and the
others still go.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience import Segment, mailable_clause
from outreach.audience.schema import Subscriber
from outreach.clock import Clock
from outreach.delivery.audience import audience_clause
from outreach.delivery.campaigns import already_has
from outreach.delivery.editions import choice_clause, choice_for
from outreach.delivery.schema import Campaign, Delivery, DeliveryState
from outreach.models import Audience
from outreach.scheduling.timing import SendWindow, due_at, local_due_at, zone_or_none

MISSED_LOCALLY = "missed: their local send time had passed more than the grace ({hours:g} h) before the start"


COLUMNS = [
    "campaign_id",
    "subscriber_id",
    "state",
    "reason",
    "provider_id",
    "attempts",
    "claimed_by",
    "language",
]


def campaign_audience(campaign: Campaign) -> Audience:
    stored = campaign.audience or {}
    return Audience(tuple(stored.get("topics", ())), tuple(stored.get("segments", ())))


def snapshot(session: Session, campaign: Campaign, segments: dict[str, Segment], clock: Clock) -> int:
    """Insert one pending ledger row per recipient (call inside the transaction that starts it), each
    with the language edition its recipient reads."""
    choice = choice_for(session, campaign)
    who = (
        sa.select(
            sa.literal(campaign.id).label("campaign_id"),
            Subscriber.id.label("subscriber_id"),
            sa.literal(DeliveryState.PENDING.value).label("state"),
            sa.literal("").label("reason"),
            sa.literal("").label("provider_id"),
            sa.literal(0).label("attempts"),
            sa.literal("").label("claimed_by"),
            choice_clause(choice, Subscriber.language).label("language"),
        )
        .where(
            audience_clause(campaign_audience(campaign), segments, clock.now().date()),
            mailable_clause(),
            ~already_has(campaign.issue_slug),
        )
        .order_by(Subscriber.id)
    )
    session.execute(sa.insert(Delivery).from_select(COLUMNS, who))
    return int(session.scalar(sa.select(sa.func.count()).where(Delivery.campaign_id == campaign.id)) or 0)


def known_zones(session: Session) -> list[str]:
    """The distinct time zones subscribers have told us (usually a handful)."""
    found = session.scalars(
        sa.select(Subscriber.time_zone).where(Subscriber.time_zone.is_not(None)).distinct()
    )
    return sorted(str(z) for z in found if z)


def local_due_times(session: Session, send_at: datetime, window: SendWindow) -> dict[str, datetime]:
    """Each known zone's due time for a local-time send (UTC), with the site's under ``""``."""
    times = {"": due_at(send_at, window).astimezone(UTC)}
    for name in known_zones(session):
        zone = zone_or_none(name)
        if zone is not None:
            times[name] = local_due_at(send_at, window, zone).astimezone(UTC)
    return times


def skip_missed_locally(session: Session, campaign_id: int, now: datetime, grace: timedelta) -> int:
    """Rows whose own due time is more than ``grace`` before ``now``: skipped, with the reason.

    Called once, at the start, after ``spread_by_zone``: later on, a row that waited (a pause, a retry)
    is the operator's or the runner's to send, not a miss."""
    missed = session.execute(
        sa.update(Delivery)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.state == DeliveryState.PENDING,
            Delivery.next_attempt_at < now - grace,
        )
        .values(
            state=DeliveryState.SKIPPED,
            reason=MISSED_LOCALLY.format(hours=grace.total_seconds() / 3600),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(missed, "rowcount", 0))


def spread_by_zone(session: Session, campaign_id: int, send_at: datetime, window: SendWindow) -> int:
    """Give each row its recipient's local send time; returns how many zones were used."""
    site = due_at(send_at, window).astimezone(UTC)
    session.execute(
        sa.update(Delivery).where(Delivery.campaign_id == campaign_id).values(next_attempt_at=site)
    )
    zones = session.scalars(
        sa.select(Subscriber.time_zone)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.campaign_id == campaign_id, Subscriber.time_zone.is_not(None))
        .distinct()
    )
    used = 0
    for name in [str(z) for z in zones if z]:
        zone = zone_or_none(name)
        if zone is None:
            continue
        local = local_due_at(send_at, window, zone).astimezone(UTC)
        people = sa.select(Subscriber.id).where(Subscriber.time_zone == name)
        session.execute(
            sa.update(Delivery)
            .where(Delivery.campaign_id == campaign_id, Delivery.subscriber_id.in_(people))
            .values(next_attempt_at=local)
        )
        used += 1
    return used
