"""A person's rights: a copy of everything we hold about them (JSON), and erasure.

The copy holds the profile, topics, tags, the consent log, the suppression entry, and what the
sending left behind: every delivery of every campaign (state, reason, Message-ID), the clicks and
every event a provider reported about them (with the provider's own data). Those last two tables
belong to delivery and events; they are read through ``ledger_view``.

Erasure removes the personal data (address, names, organisation, attributes, tags, topics, and the
IP address and user agent in their consent events) and keeps only the SHA-256 of the address on the
suppression list, so the person is never mailed again and no import can bring them back. An address
nothing is held about is not "erased": ``NothingHeld`` says so, and nothing is written.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience import ledger_view
from outreach.audience.addresses import email_hash, normalise_email
from outreach.audience.consent import Consent, history, record
from outreach.audience.schema import (
    ConsentAction,
    ConsentEvent,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
)
from outreach.audience.subscribers import find_by_email, profile_dict
from outreach.clock import Clock
from outreach.errors import AudienceError


class NothingHeld(AudienceError):
    """No subscriber, suppression entry or consent event for this address."""


def holds_anything(session: Session, address: str) -> bool:
    """True if any row is held about the address (a subscriber, a suppression entry, a consent event)."""
    normal = normalise_email(address)
    hashed = email_hash(normal)
    if find_by_email(session, normal) is not None or session.get(Suppression, hashed) is not None:
        return True
    return (
        session.scalar(sa.select(ConsentEvent.id).where(ConsentEvent.email_hash == hashed).limit(1))
        is not None
    )


def export_person(session: Session, address: str) -> dict[str, Any]:
    """Everything held about one address: profile, topics, tags, consent log, suppression, deliveries,
    clicks and provider events."""
    normal = normalise_email(address)
    hashed = email_hash(normal)
    subscriber = find_by_email(session, normal)
    suppression = session.get(Suppression, hashed)
    events = history(session, hashed)
    if subscriber is None and suppression is None and not events:
        raise NothingHeld(f"nothing is held about {normal}")
    sent = _sending(session, subscriber.id) if subscriber else {"deliveries": [], "clicks": [], "events": []}
    return {
        "email": normal,
        "subscriber": profile_dict(subscriber) if subscriber else None,
        "consent_log": [
            {
                "at": event.at.isoformat(),
                "action": event.action.value,
                "topics": event.topics,
                "method": event.method.value,
                "source": event.source,
                "notice_version": event.notice_version,
                "actor": event.actor,
                "ip": event.ip,
                "user_agent": event.user_agent,
            }
            for event in events
        ],
        "suppression": {
            "reason": suppression.reason.value,
            "note": suppression.note,
            "since": suppression.created_at.isoformat(),
        }
        if suppression
        else None,
        **sent,
    }


def _sending(session: Session, subscriber_id: int) -> dict[str, list[dict[str, Any]]]:
    """The person's rows in the delivery ledger and the events, oldest first."""
    campaigns, deliveries, events = ledger_view.campaigns, ledger_view.deliveries, ledger_view.events
    rows = session.execute(
        sa.select(
            campaigns.c.id,
            campaigns.c.issue_slug,
            campaigns.c.subject,
            deliveries.c.state,
            deliveries.c.reason,
            deliveries.c.message_id,
            deliveries.c.attempts,
            deliveries.c.updated_at,
            deliveries.c.fields,
        )
        .join(campaigns, campaigns.c.id == deliveries.c.campaign_id)
        .where(deliveries.c.subscriber_id == subscriber_id)
        .order_by(deliveries.c.id)
    )
    delivered = [
        {
            "campaign": {"id": cid, "issue": slug, "subject": subject},
            "state": state,
            "reason": reason,
            "message_id": message_id,
            "attempts": attempts,
            "updated_at": _iso(updated),
            **({"letter_fields": fields} if fields else {}),
        }
        for cid, slug, subject, state, reason, message_id, attempts, updated, fields in rows
    ]
    found = session.execute(
        sa.select(
            events.c.provider,
            events.c.kind,
            events.c.campaign_id,
            events.c.occurred_at,
            events.c.detail,
            events.c.raw,
        )
        .where(events.c.subscriber_id == subscriber_id)
        .order_by(events.c.occurred_at, events.c.id)
    ).all()
    reported = [
        {
            "provider": provider,
            "kind": kind,
            "campaign_id": campaign,
            "at": _iso(at),
            "detail": detail,
            "raw": raw,
        }
        for provider, kind, campaign, at, detail, raw in found
    ]
    clicks = [
        {"campaign_id": e["campaign_id"], "at": e["at"], "link": e["detail"]}
        for e in reported
        if e["kind"] == ledger_view.CLICKED
    ]
    return {"deliveries": delivered, "clicks": clicks, "events": reported}


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value is not None else None)


def erase(session: Session, address: str, *, consent: Consent, clock: Clock) -> str:
    """Remove the person's data, keep the hash suppressed; returns the hash. Idempotent.

    NothingHeld when nothing is held about the address: it is not put on any list either.
    """
    normal = normalise_email(address)
    hashed = email_hash(normal)
    if not holds_anything(session, normal):
        raise NothingHeld(f"nothing is held about {normal}, so there is nothing to erase")
    now = clock.now()
    subscriber = find_by_email(session, normal)
    subscriber_id = None
    if subscriber is not None:
        subscriber_id = subscriber.id
        subscriber.email = None
        for name in ("first_name", "last_name", "organisation", "role", "region", "language"):
            setattr(subscriber, name, "")
        subscriber.time_zone = None
        subscriber.attributes = {}
        subscriber.tags = []
        subscriber.topics = []
        subscriber.status = SubscriberStatus.ERASED
        subscriber.updated_at = now
        # A one-off letter's copy of the contact's columns goes too (the row itself stays, emptied).
        ledger = ledger_view.deliveries
        session.execute(
            sa.update(ledger)
            .where(ledger.c.subscriber_id == subscriber_id, ledger.c.fields.is_not(None))
            .values(fields={})
        )
    # The one permitted change to the consent log: personal data in it goes, the record stays.
    session.execute(
        sa.update(ConsentEvent).where(ConsentEvent.email_hash == hashed).values(ip=None, user_agent=None)
    )
    entry = session.get(Suppression, hashed)
    if entry is None:
        session.add(
            Suppression(
                email_hash=hashed,
                email=None,
                reason=SuppressionReason.ERASED,
                note="",
                created_at=now,
            )
        )
    else:
        entry.email = None
        entry.note = ""
        entry.reason = SuppressionReason.ERASED
    record(
        session,
        subscriber_id=subscriber_id,
        email_hash=hashed,
        action=ConsentAction.ERASED,
        consent=consent,
        clock=clock,
    )
    session.flush()
    return hashed


def is_erased(session: Session, address: str) -> bool:
    """True if the address was erased (only its hash remains)."""
    entry = session.get(Suppression, email_hash(normalise_email(address)))
    return entry is not None and entry.reason is SuppressionReason.ERASED
