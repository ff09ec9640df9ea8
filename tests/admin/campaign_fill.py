"""Campaigns with known ledgers and events, written straight into a test database, for the figures tests.

``Filled`` says what was written, so each test can state the figure it expects from the rows it made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path

from sqlalchemy.orm import Session

from outreach.audience import Consent, ConsentMethod, add_subscriber
from outreach.audience.schema import Subscriber
from outreach.audience.subscribers import Profile
from outreach.audience.topics import load_topics, sync_topics
from outreach.clock import FixedClock
from outreach.delivery.campaigns import log
from outreach.delivery.schema import Campaign, CampaignStatus, Delivery, DeliveryState
from outreach.delivery.tracking import LinkClick, url_hash
from outreach.events.model import EventKind
from outreach.events.schema import EventRecord

REPO = Path(__file__).resolve().parents[2]
_ids = count(1)


def topics(session: Session) -> None:
    sync_topics(session, load_topics(REPO / "lists" / "topics.yaml"))


def people(
    session: Session, clock: FixedClock, n: int, *, language: str = "en", topic: str = "monthly-newsletter"
) -> list[int]:
    """``n`` active subscribers (each with a 'subscribed' consent event at the clock's time)."""
    found = []
    for _ in range(n):
        who = add_subscriber(
            session,
            f"reader{next(_ids)}@example.org",
            consent=Consent(ConsentMethod.ADMIN, source="test"),
            clock=clock,
            profile=Profile(language=language),
            topics=(topic,),
        )
        found.append(who.id)
    return found


def campaign(
    session: Session,
    started: datetime,
    *,
    status: CampaignStatus = CampaignStatus.DONE,
    subject: str = "December: holding the holidays",
    slug: str = "2026-12-holding-the-holidays",
    send_at: datetime | None = None,
) -> int:
    row = Campaign(
        issue_slug=slug,
        issue_path="",
        subject=subject,
        status=status,
        audience={"topics": ["monthly-newsletter"], "segments": []},
        transport="outbox",
        subject_source=subject,
        html_source="<p>hi</p>",
        text_source="hi",
        from_name="VAIMH",
        from_address="news@vaimh.example",
        reply_to="",
        list_id="news.vaimh.example",
        message_id_domain="vaimh.example",
        pause_reason="",
        send_at=send_at,
        created_at=started - timedelta(minutes=5),
        started_at=None if status is CampaignStatus.SCHEDULED else started,
        finished_at=started + timedelta(hours=1) if status is CampaignStatus.DONE else None,
    )
    session.add(row)
    session.flush()
    log(session, row.id, "created", FixedClock(row.created_at), "via outbox")
    return row.id


def row(
    session: Session,
    campaign_id: int,
    subscriber_id: int,
    state: DeliveryState,
    at: datetime | None,
    reason: str = "",
) -> int:
    delivery = Delivery(
        campaign_id=campaign_id,
        subscriber_id=subscriber_id,
        state=state,
        reason=reason,
        message_id=f"<{campaign_id}.{subscriber_id}.t@vaimh.example>"
        if state is not DeliveryState.PENDING
        else None,
        provider_id="",
        attempts=1,
        claimed_by="",
        updated_at=at,
    )
    session.add(delivery)
    session.flush()
    return delivery.id


def event(
    session: Session,
    campaign_id: int,
    kind: EventKind,
    at: datetime,
    subscriber_id: int | None,
    delivery_id: int | None = None,
) -> None:
    session.add(
        EventRecord(
            provider="test",
            provider_event_id=f"e{next(_ids)}",
            kind=kind,
            campaign_id=campaign_id,
            delivery_id=delivery_id,
            subscriber_id=subscriber_id,
            occurred_at=at,
            received_at=at,
            detail="",
            raw={},
        )
    )


def link(session: Session, campaign_id: int, url: str, clicks: int, at: datetime) -> None:
    session.add(
        LinkClick(campaign_id=campaign_id, url_hash=url_hash(url), url=url, clicks=clicks, last_clicked_at=at)
    )


@dataclass
class Filled:
    """A finished campaign of 10 recipients sent at ``start`` (see ``sent_campaign``)."""

    campaign_id: int
    start: datetime
    readers: list[int] = field(default_factory=list)


def sent_campaign(session: Session, clock: FixedClock, start: datetime) -> Filled:
    """Ten recipients: 6 sent (in the first and second hour), 1 refused as bounced while sending,
    1 failed after retries, 1 skipped, 1 unknown. Events: 4 delivered (one reported twice), 2 hard
    bounces for one person (plus a soft one for them: still one person), 1 soft bounce of another,
    1 complaint, 2 unsubscribes of one person, 3 clicks (one without a person) on day 3; tracked
    links: 5 and 2 clicks."""
    readers = people(session, clock, 10)
    filled = Filled(campaign(session, start), start, readers)
    cid = filled.campaign_id
    ids = [
        row(session, cid, readers[i], DeliveryState.SENT, start + timedelta(minutes=10 + 30 * i))
        for i in range(6)
    ]
    row(
        session,
        cid,
        readers[6],
        DeliveryState.FAILED,
        start + timedelta(minutes=20),
        "bounced: 550 5.1.1 no such user",
    )
    row(session, cid, readers[7], DeliveryState.FAILED, start, "retry exhausted after 5 attempts: 451 busy")
    row(session, cid, readers[8], DeliveryState.SKIPPED, start, "subscriber is unsubscribed")
    row(session, cid, readers[9], DeliveryState.UNKNOWN, start, "uncertain: connection dropped")
    hour = timedelta(hours=1)
    for i in range(4):
        event(session, cid, EventKind.DELIVERED, start + hour, readers[i], ids[i])
    event(session, cid, EventKind.DELIVERED, start + 2 * hour, readers[0], ids[0])
    event(session, cid, EventKind.BOUNCED_HARD, start + hour, readers[4], ids[4])
    event(session, cid, EventKind.BOUNCED_HARD, start + 2 * hour, readers[4], ids[4])
    event(session, cid, EventKind.BOUNCED_SOFT, start + 3 * hour, readers[4], ids[4])
    event(session, cid, EventKind.BOUNCED_SOFT, start + 5 * hour, readers[5], ids[5])
    event(session, cid, EventKind.COMPLAINED, start + 5 * hour, readers[1], ids[1])
    event(session, cid, EventKind.UNSUBSCRIBED, start + 6 * hour, readers[2], ids[2])
    event(session, cid, EventKind.UNSUBSCRIBED, start + 7 * hour, readers[2], ids[2])
    for who in (readers[0], readers[3], None):
        event(session, cid, EventKind.CLICKED, start + timedelta(days=3), who, None)
    link(session, cid, "https://vaimh.example/events/winter-training", 5, start)
    link(session, cid, "https://vaimh.example/resources", 2, start)
    session.flush()
    return filled


def set_status(session: Session, subscriber_id: int, status: str) -> None:
    who = session.get(Subscriber, subscriber_id)
    assert who is not None
    who.status = status  # type: ignore[assignment]
