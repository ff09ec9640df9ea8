"""A person's rights: a copy of everything we hold about them (JSON), and erasure.

Erasure removes the personal data (address, names, organisation, attributes, tags, topics, and the
IP address and user agent in their consent events) and keeps only the SHA-256 of the address on the
suppression list, so the person is never mailed again and no import can bring them back.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

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


def export_person(session: Session, address: str) -> dict[str, Any]:
    """Everything held about one address: profile, topics, tags, consent log, suppression."""
    normal = normalise_email(address)
    hashed = email_hash(normal)
    subscriber = find_by_email(session, normal)
    suppression = session.get(Suppression, hashed)
    events = history(session, hashed)
    if subscriber is None and suppression is None and not events:
        raise AudienceError(f"nothing is held about {normal}")
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
    }


def erase(session: Session, address: str, *, consent: Consent, clock: Clock) -> str:
    """Remove the person's data, keep the hash suppressed; returns the hash. Idempotent."""
    normal = normalise_email(address)
    hashed = email_hash(normal)
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
