"""Who a campaign goes to: an issue's audience (topics and segments) as one SQL condition.

Also the engagement hook that lets segment rules say "received campaign X", answered from the ledger.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from outreach.audience import ALL, Segment, compile_rule
from outreach.audience.schema import Subscriber, SubscriberStatus, SubscriberTopic, Suppression
from outreach.audience.segments import EngagementCondition
from outreach.delivery.schema import Campaign, Delivery, DeliveryState
from outreach.errors import DeliveryError, SegmentError
from outreach.models import Audience


def engagement(condition: EngagementCondition) -> sa.ColumnElement[bool]:
    """``received: SLUG-or-ID``: the subscriber's ledger row for that campaign was sent."""
    if condition.kind != "received":
        raise SegmentError(
            f"'{condition.kind}' rules need click and open events, which this installation does not "
            "record yet; use 'received'",
            condition.path,
            condition.line,
        )
    campaign = Campaign.issue_slug == condition.campaign
    if condition.campaign.isdigit():
        campaign = sa.or_(campaign, Campaign.id == int(condition.campaign))
    sent = (
        sa.select(Delivery.id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.subscriber_id == Subscriber.id, Delivery.state == DeliveryState.SENT, campaign)
    )
    return sent.exists()


def audience_clause(audience: Audience, segments: dict[str, Segment], today: date) -> sa.ColumnElement[bool]:
    """Subscribers in any of the topics or any of the segments (not yet filtered for mailability)."""
    if audience.is_empty:
        raise DeliveryError(
            "the issue names no audience: add 'audience:' with topics or segments to its front matter, "
            "or pass --segment NAME / --topic KEY"
        )
    parts: list[sa.ColumnElement[bool]] = []
    for name in audience.segments:
        if name == ALL:
            parts.append(sa.true())
            continue
        if name not in segments:
            known = ", ".join(sorted([ALL, *segments]))
            raise DeliveryError(f"unknown segment {name!r}; known: {known}")
        parts.append(compile_rule(segments[name].rule, today, engagement))
    for topic in audience.topics:
        member = sa.select(SubscriberTopic.subscriber_id).where(
            SubscriberTopic.subscriber_id == Subscriber.id, SubscriberTopic.topic_key == topic
        )
        parts.append(member.exists())
    return sa.or_(*parts)


def exclusion_reason() -> sa.ColumnElement[Any]:
    """Why a matching subscriber will not be mailed: their status, or 'suppressed'."""
    suppressed = sa.select(Suppression.email_hash).where(Suppression.email_hash == Subscriber.email_hash)
    return sa.case(
        (Subscriber.status != SubscriberStatus.ACTIVE, sa.cast(Subscriber.status, sa.String)),
        (suppressed.exists(), sa.literal("suppressed")),
        else_=sa.literal(""),
    )
