"""The suppression list: address hashes that are never mailed again, whatever a list or import says.

An entry is keyed by the SHA-256 of the normalised address so it survives an erasure. Adding an
entry for a known subscriber also moves them out of ``active`` (unsubscribed, bounced or
complained), so the two never disagree.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.addresses import email_hash, normalise_email
from outreach.audience.consent import Consent, record
from outreach.audience.schema import (
    STILL_WRITTEN_TO,
    ConsentAction,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
)
from outreach.clock import Clock
from outreach.errors import AudienceError

STATUS_FOR_REASON = {
    SuppressionReason.UNSUBSCRIBED: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.BOUNCED: SubscriberStatus.BOUNCED,
    SuppressionReason.COMPLAINED: SubscriberStatus.COMPLAINED,
    SuppressionReason.MANUAL: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.ERASED: SubscriberStatus.ERASED,
}


def suppress_hash(
    session: Session,
    hashed: str,
    reason: SuppressionReason,
    *,
    consent: Consent,
    clock: Clock,
    email: str | None = None,
    note: str = "",
) -> Suppression:
    """Put a hash on the list (idempotent: an existing entry is kept, not duplicated)."""
    entry = session.get(Suppression, hashed)
    if entry is None:
        entry = Suppression(email_hash=hashed, email=email, reason=reason, note=note, created_at=clock.now())
        session.add(entry)
    subscriber = session.scalars(sa.select(Subscriber).where(Subscriber.email_hash == hashed)).one_or_none()
    if subscriber is not None and subscriber.status in STILL_WRITTEN_TO:
        subscriber.status = STATUS_FOR_REASON[reason]
        subscriber.updated_at = clock.now()
    record(
        session,
        subscriber_id=subscriber.id if subscriber else None,
        email_hash=hashed,
        action=ConsentAction.SUPPRESSED,
        consent=consent,
        clock=clock,
    )
    session.flush()
    return entry


def suppress(
    session: Session,
    address: str,
    reason: SuppressionReason,
    *,
    consent: Consent,
    clock: Clock,
    note: str = "",
) -> Suppression:
    """Put an address on the list; it is never mailed or re-subscribed by an import again."""
    normal = normalise_email(address)
    return suppress_hash(
        session, email_hash(normal), reason, consent=consent, clock=clock, email=normal, note=note
    )


def unsuppress(session: Session, address: str, *, consent: Consent, clock: Clock) -> None:
    """Take an address off the list (an admin's decision; the subscriber stays not active)."""
    hashed = email_hash(normalise_email(address))
    entry = session.get(Suppression, hashed)
    if entry is None:
        raise AudienceError(f"{address} is not on the suppression list")
    if entry.reason is SuppressionReason.ERASED:
        raise AudienceError(f"{address} was erased at the person's request; the suppression entry stays")
    session.delete(entry)
    subscriber = session.scalars(
        sa.select(Subscriber.id).where(Subscriber.email_hash == hashed)
    ).one_or_none()
    record(
        session,
        subscriber_id=subscriber,
        email_hash=hashed,
        action=ConsentAction.UNSUPPRESSED,
        consent=consent,
        clock=clock,
    )
    session.flush()


def is_suppressed(session: Session, address: str) -> bool:
    """True if the address (in any spelling) is on the list."""
    hashed = email_hash(normalise_email(address))
    return session.get(Suppression, hashed) is not None


def suppressions(session: Session) -> list[Suppression]:
    """The whole list, newest first."""
    return list(
        session.scalars(
            sa.select(Suppression).order_by(Suppression.created_at.desc(), Suppression.email_hash)
        )
    )


def suppressed_hashes(session: Session, hashes: list[str]) -> set[str]:
    """Which of ``hashes`` are suppressed; chunked so it works for 100,000 at once."""
    found: set[str] = set()
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        found.update(
            session.scalars(sa.select(Suppression.email_hash).where(Suppression.email_hash.in_(chunk)))
        )
    return found
