"""Unsubscribes through a campaign's own links, counted in that campaign's figures.

Every unsubscribe link (``/u/TOKEN``, the one-click POST, and the ``mailto:`` in List-Unsubscribe)
carries a signed token naming the subscriber and the campaign whose mail carried it
(``outreach.tokens.LinkSubject``). Leaving through one records an ``unsubscribed`` event tied to that
campaign and its ledger row, once per person and campaign however many ways they use, so the
campaign's report counts it. A ``mailto:`` unsubscribe arrives as mail: the token in its subject is
the whole proof, and its From line is never trusted (anyone can write any From).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience import Consent, ConsentMethod, is_suppressed, unsubscribe
from outreach.audience.schema import STILL_WRITTEN_TO, Subscriber
from outreach.clock import Clock
from outreach.delivery.schema import Campaign, Delivery, DeliveryState
from outreach.events.apply import Outcome, record_event
from outreach.events.identify import Found
from outreach.events.model import Event, EventKind
from outreach.tokens import LinkSubject

PROVIDER = "outreach"
"""Events of our own making: unsubscribes through our links and our mailbox."""


@dataclass(frozen=True, slots=True)
class Left:
    """What one unsubscribe through a link did: whether the person was found, and the event."""

    outcome: Outcome
    campaign_id: int | None = None


def _found(session: Session, subject: LinkSubject) -> Found | None:
    """The ledger row of the person in the campaign the link came with, if both still exist."""
    if subject.campaign_id is None:
        return None
    row = session.execute(
        sa.select(Delivery.id, Delivery.state).where(
            Delivery.campaign_id == subject.campaign_id, Delivery.subscriber_id == subject.subscriber_id
        )
    ).first()
    if row is not None:
        return Found(row.id, subject.campaign_id, subject.subscriber_id, row.state)
    if session.get(Campaign, subject.campaign_id) is not None:  # a test send: no ledger row
        return Found(None, subject.campaign_id, subject.subscriber_id, DeliveryState.SENT)
    return None


def count_unsubscribe(session: Session, subject: LinkSubject, how: str, clock: Clock) -> Left:
    """Record that the person left through a link of ``subject.campaign_id`` (inside the caller's
    transaction); a second way of leaving from the same campaign's mail is a duplicate."""
    found = _found(session, subject)
    if found is None:
        return Left(Outcome.UNMATCHED)
    event = Event(
        kind=EventKind.UNSUBSCRIBED,
        provider=PROVIDER,
        provider_event_id=f"unsubscribe:{found.campaign_id}:{found.subscriber_id}",
        occurred_at=clock.now(),
        detail=how,
        raw={"how": how, "campaign": found.campaign_id},
    )
    inserted = record_event(session, event, found, clock)
    return Left(Outcome.APPLIED if inserted else Outcome.DUPLICATE, found.campaign_id)


def leave_by_mail(session: Session, subject: LinkSubject, clock: Clock) -> Left:
    """Unsubscribe the person a mailed ``unsubscribe-TOKEN`` names, at once, and count it."""
    subscriber = session.get(Subscriber, subject.subscriber_id)
    if subscriber is None:
        return Left(Outcome.UNMATCHED)
    campaign = f", campaign {subject.campaign_id}" if subject.campaign_id is not None else ""
    consent = Consent(ConsentMethod.ONE_CLICK, source=f"mailto unsubscribe (List-Unsubscribe){campaign}")
    leaving = subscriber.status in STILL_WRITTEN_TO
    if leaving or (subscriber.email and not is_suppressed(session, subscriber.email)):
        unsubscribe(session, subscriber.id, consent=consent, clock=clock)
    counted = count_unsubscribe(session, subject, "mailto unsubscribe", clock)
    return Left(Outcome.APPLIED, counted.campaign_id)
