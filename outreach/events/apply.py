"""Apply normalised events to the database: the events table, the ledger and the subscriber.

Call ``apply_events`` inside one transaction. An event changes somebody only when it names a message
we sent, by an identifier nobody else can make, and the person it reports on is that message's
recipient (``identify``); anything else is recorded as unmatched and changes nobody, so a forged
bounce, complaint or report cannot suppress anyone. The insert into ``events`` comes first and does
nothing on a repeated ``(provider, provider_event_id)``, and only an inserted row has effects, so
replaying a webhook or re-reading a mailbox changes nothing. A hard bounce or a complaint suppresses
the address at once; a soft bounce (mailbox full, a policy block, a delay given up) is recorded and
shown, never suppresses; an unsubscribe is honoured at once. Any event for a row the ledger left
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
    SuppressionReason,
    stop_mailing,
    unsubscribe,
)
from outreach.clock import Clock
from outreach.delivery.schema import Delivery, DeliveryState
from outreach.events.identify import Found, Trust, identify
from outreach.events.model import Event, EventKind, clean, clean_document
from outreach.events.schema import EventRecord
from outreach.tokens import Keys

__all__ = ["Applied", "Outcome", "Trust", "apply_event", "apply_events", "campaign_figures", "record_event"]


class Outcome(StrEnum):
    """What applying one event did."""

    APPLIED = "applied"  # new, tied to a message we sent to that person, effects done
    UNMATCHED = "unmatched"  # new and recorded, but not tied to any message of ours: changes nobody
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


def record_event(session: Session, event: Event, found: Found | None, clock: Clock) -> bool:
    """Insert the event row; False if this provider's event id is already there."""
    values = {
        "provider": event.provider,
        "provider_event_id": clean(event.provider_event_id),
        "kind": event.kind,
        "campaign_id": found.campaign_id if found else None,
        "delivery_id": found.delivery_id if found else None,
        "subscriber_id": found.subscriber_id if found else None,
        "occurred_at": event.occurred_at,
        "received_at": clock.now(),
        "detail": clean(event.detail),
        "raw": clean_document(dict(event.raw)),
    }
    dialect = session.get_bind().dialect.name
    keys = ["provider", "provider_event_id"]
    statement: sa.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(EventRecord).values(values).on_conflict_do_nothing(index_elements=keys)
    elif dialect == "sqlite":
        statement = sqlite.insert(EventRecord).values(values).on_conflict_do_nothing(index_elements=keys)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"events on {dialect}")
    # RETURNING, not rowcount: an ORM-enabled insert does not report rowcount on every driver.
    return session.execute(statement.returning(EventRecord.id)).first() is not None


def _update_ledger(session: Session, event: Event, found: Found, clock: Clock) -> None:
    if found.delivery_id is None:
        return
    now = clock.now()
    said = f"{event.provider} {event.kind.value}" + (f": {clean(event.detail)}" if event.detail else "")
    if event.kind is EventKind.BOUNCED_HARD and found.state in (DeliveryState.SENT, DeliveryState.UNKNOWN):
        values = {"state": DeliveryState.FAILED, "reason": f"bounced after sending ({said})"[:2000]}
    elif found.state is DeliveryState.UNKNOWN:
        values = {"state": DeliveryState.SENT, "reason": f"confirmed sent by an event ({said})"[:2000]}
    else:
        return
    session.execute(
        sa.update(Delivery).where(Delivery.id == found.delivery_id).values(**values, updated_at=now)  # type: ignore[arg-type]
    )


def _update_subscriber(session: Session, event: Event, found: Found, clock: Clock) -> bool:
    """Suppress or unsubscribe as the event demands; True if the address stops being mailed."""
    source = clean(
        f"campaign {found.campaign_id}, {event.provider} {event.kind.value} "
        f"{event.provider_event_id}: {event.detail}"
    )[:500]
    if event.kind is EventKind.BOUNCED_HARD:
        consent = Consent(ConsentMethod.BOUNCE, source=source)
        stop_mailing(session, found.subscriber_id, SuppressionReason.BOUNCED, consent=consent, clock=clock)
        return True
    if event.kind is EventKind.COMPLAINED:
        consent = Consent(ConsentMethod.COMPLAINT, source=source)
        stop_mailing(session, found.subscriber_id, SuppressionReason.COMPLAINED, consent=consent, clock=clock)
        return True
    if event.kind is EventKind.UNSUBSCRIBED:
        # Reported by the provider's own unsubscribe handling (List-Unsubscribe, its footer link).
        consent = Consent(ConsentMethod.ONE_CLICK, source=source)
        unsubscribe(session, found.subscriber_id, consent=consent, clock=clock)
        return True
    return False  # delivered, clicked, and soft bounces: recorded and counted, nobody suppressed


def apply_event(session: Session, event: Event, clock: Clock, *, keys: Keys, trust: Trust) -> Applied:
    """Record one event and act on it (inside the caller's transaction).

    ``keys`` are the site's accepted keys (they verify keyed Message-IDs and VERP addresses);
    ``trust`` says what the channel the event came through vouches for (see ``identify``)."""
    found, why = identify(session, event, keys, trust)
    if not record_event(session, event, found, clock):
        return Applied(event, Outcome.DUPLICATE, reason="already applied")
    if found is None:
        return Applied(event, Outcome.UNMATCHED, reason=why)
    _update_ledger(session, event, found, clock)
    suppressed = _update_subscriber(session, event, found, clock)
    return Applied(event, Outcome.APPLIED, found.delivery_id, found.subscriber_id, suppressed)


def apply_events(
    session: Session, events: Iterable[Event], clock: Clock, *, keys: Keys, trust: Trust
) -> list[Applied]:
    """Apply each event in order (inside the caller's transaction)."""
    return [apply_event(session, event, clock, keys=keys, trust=trust) for event in events]


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
