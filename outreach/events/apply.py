"""Apply normalised events to the database: the events table, the ledger and the subscriber.

Call ``apply_events`` inside one transaction. The insert into ``events`` comes first and does nothing
on a repeated ``(provider, provider_event_id)``, and only an inserted row has effects, so replaying a
webhook or re-reading a mailbox changes nothing. A hard bounce or a complaint suppresses the address
at once; soft bounces suppress it after ``soft_bounce_limit`` of them on different messages since the
last confirmed delivery; an unsubscribe is honoured at once. Any event for a row the ledger left
``unknown`` proves the message went out, so that row becomes ``sent`` and is never re-sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from outreach.audience import (
    Consent,
    ConsentMethod,
    InvalidAddress,
    SuppressionReason,
    find_by_email,
    stop_mailing,
    unsubscribe,
)
from outreach.clock import Clock
from outreach.delivery.schema import Delivery, DeliveryState
from outreach.events.model import Event, EventKind
from outreach.events.schema import EventRecord

SOFT_BOUNCE_LIMIT = 3
"""Default for ``[events] soft_bounce_limit``: soft bounces (on different messages) before suppression."""


class Outcome(StrEnum):
    """What applying one event did."""

    APPLIED = "applied"  # new, matched a delivery or a subscriber, effects done
    UNMATCHED = "unmatched"  # new and recorded, but no delivery or subscriber is known for it
    DUPLICATE = "duplicate"  # seen before: nothing changed


@dataclass(frozen=True, slots=True)
class Applied:
    """The fate of one event."""

    event: Event
    outcome: Outcome
    delivery_id: int | None = None
    subscriber_id: int | None = None
    suppressed: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class _Match:
    delivery_id: int | None
    campaign_id: int | None
    subscriber_id: int | None
    state: DeliveryState | None


def _delivery(session: Session, clause: sa.ColumnElement[bool]) -> _Match | None:
    row = session.execute(
        sa.select(Delivery.id, Delivery.campaign_id, Delivery.subscriber_id, Delivery.state)
        .where(clause)
        .limit(1)
    ).first()
    return _Match(row.id, row.campaign_id, row.subscriber_id, row.state) if row else None


def match(session: Session, event: Event) -> _Match | None:
    """The ledger row by outreach key, then Message-ID, then provider id; else the subscriber by address."""
    key = event.outreach_key.strip()
    if key.isdigit() and len(key) < 19:
        found = _delivery(session, Delivery.id == int(key))
        if found:
            return found
    if event.message_id:
        found = _delivery(session, Delivery.message_id == event.message_id[:250])
        if found:
            return found
    if event.provider_message_id:
        found = _delivery(session, Delivery.provider_id == event.provider_message_id[:250])
        if found:
            return found
    if event.recipient:
        try:
            subscriber = find_by_email(session, event.recipient)
        except InvalidAddress:
            subscriber = None
        if subscriber is not None:
            return _Match(None, None, subscriber.id, None)
    return None


def _insert(session: Session, event: Event, found: _Match | None, clock: Clock) -> bool:
    """Insert the event row; False if this provider's event id is already there."""
    values = {
        "provider": event.provider,
        "provider_event_id": event.provider_event_id,
        "kind": event.kind,
        "campaign_id": found.campaign_id if found else None,
        "delivery_id": found.delivery_id if found else None,
        "subscriber_id": found.subscriber_id if found else None,
        "occurred_at": event.occurred_at,
        "received_at": clock.now(),
        "detail": event.detail,
        "raw": dict(event.raw),
    }
    dialect = session.get_bind().dialect.name
    keys = ["provider", "provider_event_id"]
    statement: sa.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(EventRecord).values(values).on_conflict_do_nothing(index_elements=keys)
    elif dialect == "sqlite":
        statement = sqlite.insert(EventRecord).values(values).on_conflict_do_nothing(index_elements=keys)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        if _seen(session, event):
            return False
        session.execute(sa.insert(EventRecord).values(values))
        return True
    # RETURNING, not rowcount: an ORM-enabled insert does not report rowcount on every driver.
    return session.execute(statement.returning(EventRecord.id)).first() is not None


def _seen(session: Session, event: Event) -> bool:
    return (
        session.scalar(
            sa.select(EventRecord.id).where(
                EventRecord.provider == event.provider,
                EventRecord.provider_event_id == event.provider_event_id,
            )
        )
        is not None
    )


def _soft_bounces(session: Session, subscriber_id: int) -> int:
    """Soft bounces on different messages since the last delivery a provider confirmed."""
    last_delivered = (
        sa.select(sa.func.max(EventRecord.occurred_at))
        .where(EventRecord.subscriber_id == subscriber_id, EventRecord.kind == EventKind.DELIVERED)
        .scalar_subquery()
    )
    soft = sa.and_(
        EventRecord.subscriber_id == subscriber_id,
        EventRecord.kind == EventKind.BOUNCED_SOFT,
        sa.or_(last_delivered.is_(None), EventRecord.occurred_at > last_delivered),
    )
    messages = session.scalar(sa.select(sa.func.count(sa.distinct(EventRecord.delivery_id))).where(soft))
    loose = session.scalar(sa.select(sa.func.count()).where(soft, EventRecord.delivery_id.is_(None)))
    return int(messages or 0) + int(loose or 0)


def _update_ledger(session: Session, event: Event, found: _Match, clock: Clock) -> None:
    if found.delivery_id is None:
        return
    now = clock.now()
    said = f"{event.provider} {event.kind.value}" + (f": {event.detail}" if event.detail else "")
    if event.kind is EventKind.BOUNCED_HARD and found.state in (DeliveryState.SENT, DeliveryState.UNKNOWN):
        values = {"state": DeliveryState.FAILED, "reason": f"bounced after sending ({said})"[:2000]}
    elif found.state is DeliveryState.UNKNOWN:
        values = {"state": DeliveryState.SENT, "reason": f"confirmed sent by an event ({said})"[:2000]}
    else:
        return
    session.execute(
        sa.update(Delivery).where(Delivery.id == found.delivery_id).values(**values, updated_at=now)  # type: ignore[arg-type]
    )


def _update_subscriber(
    session: Session, event: Event, found: _Match, clock: Clock, soft_bounce_limit: int
) -> bool:
    """Suppress or unsubscribe as the event demands; True if the address stops being mailed."""
    subscriber_id = found.subscriber_id
    if subscriber_id is None:
        return False
    campaign = f"campaign {found.campaign_id}, " if found.campaign_id else ""
    source = f"{campaign}{event.provider} {event.kind.value} {event.provider_event_id}: {event.detail}"[:500]
    if event.kind is EventKind.BOUNCED_HARD:
        consent = Consent(ConsentMethod.BOUNCE, source=source)
        stop_mailing(session, subscriber_id, SuppressionReason.BOUNCED, consent=consent, clock=clock)
        return True
    if event.kind is EventKind.BOUNCED_SOFT:
        count = _soft_bounces(session, subscriber_id)
        if count < soft_bounce_limit:
            return False
        consent = Consent(ConsentMethod.BOUNCE, source=f"{count} soft bounces; last: {source}"[:500])
        stop_mailing(session, subscriber_id, SuppressionReason.BOUNCED, consent=consent, clock=clock)
        return True
    if event.kind is EventKind.COMPLAINED:
        consent = Consent(ConsentMethod.COMPLAINT, source=source)
        stop_mailing(session, subscriber_id, SuppressionReason.COMPLAINED, consent=consent, clock=clock)
        return True
    if event.kind is EventKind.UNSUBSCRIBED:
        # Reported by the provider's own unsubscribe handling (List-Unsubscribe, its footer link).
        unsubscribe(
            session, subscriber_id, consent=Consent(ConsentMethod.ONE_CLICK, source=source), clock=clock
        )
        return True
    return False


def apply_event(
    session: Session, event: Event, clock: Clock, *, soft_bounce_limit: int = SOFT_BOUNCE_LIMIT
) -> Applied:
    """Record one event and act on it (inside the caller's transaction)."""
    found = match(session, event)
    if not _insert(session, event, found, clock):
        return Applied(event, Outcome.DUPLICATE, reason="already applied")
    if found is None:
        return Applied(event, Outcome.UNMATCHED, reason="no delivery or subscriber matches it")
    _update_ledger(session, event, found, clock)
    suppressed = _update_subscriber(session, event, found, clock, soft_bounce_limit)
    return Applied(event, Outcome.APPLIED, found.delivery_id, found.subscriber_id, suppressed)


def apply_events(
    session: Session, events: Iterable[Event], clock: Clock, *, soft_bounce_limit: int = SOFT_BOUNCE_LIMIT
) -> list[Applied]:
    """Apply each event in order (inside the caller's transaction)."""
    return [apply_event(session, event, clock, soft_bounce_limit=soft_bounce_limit) for event in events]


def campaign_figures(session: Session, campaign_id: int) -> dict[str, int]:
    """How many events of each kind a campaign has had (every kind present, zeros included)."""
    found = dict(
        session.execute(
            sa.select(EventRecord.kind, sa.func.count())
            .where(EventRecord.campaign_id == campaign_id)
            .group_by(EventRecord.kind)
        ).all()
    )
    return {kind.value: int(found.get(kind, 0)) for kind in EventKind}
