"""Subscribers one at a time: add, find, change topics and tags, unsubscribe, ask if mailable.

This is the API the web service (forms, one-click unsubscribe, preference centre) and the delivery
work (bounces, complaints) call. Every consent change goes through the consent log; nothing here
re-subscribes an address that left, bounced, complained or was suppressed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.addresses import email_hash, normalise_email
from outreach.audience.consent import Consent, record
from outreach.audience.free_text import clean_text, clean_values
from outreach.audience.schema import (
    ConsentAction,
    Subscriber,
    SubscriberStatus,
    SubscriberTag,
    SubscriberTopic,
    Suppression,
    SuppressionReason,
    Topic,
)
from outreach.audience.suppression import suppress_hash
from outreach.clock import Clock
from outreach.errors import AudienceError

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "organisation",
    "role",
    "region",
    "language",
    "time_zone",
)


@dataclass(frozen=True)
class Profile:
    """What we know of a person besides their address; custom fields go in ``attributes``."""

    first_name: str = ""
    last_name: str = ""
    organisation: str = ""
    role: str = ""
    region: str = ""
    language: str = "en"
    time_zone: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


def mailable_clause() -> sa.ColumnElement[bool]:
    """SQL for "may be mailed": active and not on the suppression list."""
    suppressed = sa.select(Suppression.email_hash).where(Suppression.email_hash == Subscriber.email_hash)
    return sa.and_(Subscriber.status == SubscriberStatus.ACTIVE, ~suppressed.exists())


def find_by_email(session: Session, address: str) -> Subscriber | None:
    """The subscriber with this address in any spelling, or None."""
    normal = normalise_email(address)
    return session.scalars(sa.select(Subscriber).where(Subscriber.email == normal)).one_or_none()


def get_subscriber(session: Session, subscriber_id: int) -> Subscriber:
    """The subscriber with this id, or AudienceError."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise AudienceError(f"no subscriber with id {subscriber_id}")
    return subscriber


def require(session: Session, address: str) -> Subscriber:
    """The subscriber with this address, or an AudienceError that says so."""
    subscriber = find_by_email(session, address)
    if subscriber is None:
        raise AudienceError(f"no subscriber with the address {address.strip()}")
    return subscriber


def known_topics(session: Session) -> set[str]:
    return set(session.scalars(sa.select(Topic.key)))


def add_subscriber(
    session: Session,
    address: str,
    *,
    consent: Consent,
    clock: Clock,
    profile: Profile | None = None,
    topics: Iterable[str] = (),
    tags: Iterable[str] = (),
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
) -> Subscriber:
    """Create a subscriber with consent; refuses suppressed addresses and existing subscribers.

    The profile's free text is cleaned here too (``free_text``), whoever the caller is.
    """
    normal = normalise_email(address)
    hashed = email_hash(normal)
    if session.get(Suppression, hashed) is not None:
        raise AudienceError(f"{normal} is on the suppression list and is never re-subscribed")
    if find_by_email(session, normal) is not None:
        raise AudienceError(f"{normal} is already a subscriber; use `outreach lists show {normal}`")
    wanted_topics = sorted(set(topics))
    unknown = set(wanted_topics) - known_topics(session)
    if unknown:
        known = ", ".join(sorted(known_topics(session))) or "none (run `outreach db upgrade`)"
        raise AudienceError(f"unknown topic(s) {', '.join(sorted(unknown))}; known: {known}")
    profile = profile or Profile()
    now = clock.now()
    subscriber = Subscriber(
        email=normal,
        email_hash=hashed,
        first_name=clean_text(profile.first_name),
        last_name=clean_text(profile.last_name),
        organisation=clean_text(profile.organisation),
        role=clean_text(profile.role),
        region=clean_text(profile.region),
        language=clean_text(profile.language) or "en",
        time_zone=profile.time_zone,
        status=status,
        attributes=clean_values(profile.attributes),
        signup_date=now.date(),
        created_at=now,
        updated_at=now,
    )
    subscriber.topics = [SubscriberTopic(topic_key=key) for key in wanted_topics]
    subscriber.tags = [SubscriberTag(tag=tag) for tag in sorted({clean_text(t) for t in tags} - {""})]
    session.add(subscriber)
    session.flush()
    record(
        session,
        subscriber_id=subscriber.id,
        email_hash=hashed,
        action=ConsentAction.SUBSCRIBED,
        consent=consent,
        clock=clock,
        topics=" ".join(wanted_topics) or None,
    )
    return subscriber


def stop_mailing(
    session: Session,
    subscriber_id: int,
    reason: SuppressionReason,
    *,
    consent: Consent,
    clock: Clock,
) -> None:
    """Unsubscribe, bounce or complaint: status changes, the address is suppressed. Idempotent."""
    subscriber = get_subscriber(session, subscriber_id)
    if reason is SuppressionReason.UNSUBSCRIBED and subscriber.status in (
        SubscriberStatus.ACTIVE,
        SubscriberStatus.CONTACT,
    ):
        record(
            session,
            subscriber_id=subscriber.id,
            email_hash=subscriber.email_hash,
            action=ConsentAction.UNSUBSCRIBED,
            consent=consent,
            clock=clock,
        )
    suppress_hash(
        session, subscriber.email_hash, reason, consent=consent, clock=clock, email=subscriber.email
    )


def unsubscribe(
    session: Session,
    subscriber_id: int,
    *,
    consent: Consent,
    clock: Clock,
    topic: str | None = None,
) -> None:
    """Leave one topic (``topic``) or everything (no topic: status unsubscribed, suppressed)."""
    if topic is None:
        stop_mailing(session, subscriber_id, SuppressionReason.UNSUBSCRIBED, consent=consent, clock=clock)
    else:
        remove_topic(session, subscriber_id, topic, consent=consent, clock=clock)


def add_topic(session: Session, subscriber_id: int, topic: str, *, consent: Consent, clock: Clock) -> bool:
    """Subscribe to one more topic; False if already in it. Refused for non-active subscribers."""
    subscriber = get_subscriber(session, subscriber_id)
    if subscriber.status not in (SubscriberStatus.ACTIVE, SubscriberStatus.UNCONFIRMED):
        raise AudienceError(
            f"subscriber {subscriber_id} is {subscriber.status.value}; topics cannot be added"
        )
    if topic not in known_topics(session):
        raise AudienceError(f"unknown topic {topic!r}; known: {', '.join(sorted(known_topics(session)))}")
    if any(t.topic_key == topic for t in subscriber.topics):
        return False
    subscriber.topics.append(SubscriberTopic(topic_key=topic))
    subscriber.updated_at = clock.now()
    record(
        session,
        subscriber_id=subscriber.id,
        email_hash=subscriber.email_hash,
        action=ConsentAction.TOPIC_ADDED,
        consent=consent,
        clock=clock,
        topics=topic,
    )
    session.flush()
    return True


def remove_topic(session: Session, subscriber_id: int, topic: str, *, consent: Consent, clock: Clock) -> bool:
    """Leave one topic; False if not in it."""
    subscriber = get_subscriber(session, subscriber_id)
    kept = [t for t in subscriber.topics if t.topic_key != topic]
    if len(kept) == len(subscriber.topics):
        return False
    subscriber.topics = kept
    subscriber.updated_at = clock.now()
    record(
        session,
        subscriber_id=subscriber.id,
        email_hash=subscriber.email_hash,
        action=ConsentAction.TOPIC_REMOVED,
        consent=consent,
        clock=clock,
        topics=topic,
    )
    session.flush()
    return True


def set_tags(
    session: Session,
    subscriber_id: int,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    clock: Clock,
) -> list[str]:
    """Add and remove tags (not a consent change); returns the tags afterwards, sorted."""
    subscriber = get_subscriber(session, subscriber_id)
    gone = {clean_text(t) for t in remove}
    added = {clean_text(t) for t in add} - {""}
    tags = {t.tag for t in subscriber.tags if t.tag not in gone} | (added - gone)
    current = {t.tag for t in subscriber.tags}
    if tags != current:
        subscriber.tags = [t for t in subscriber.tags if t.tag in tags] + [
            SubscriberTag(tag=tag) for tag in sorted(tags - current)
        ]
        subscriber.updated_at = clock.now()
        session.flush()
    return sorted(tags)


def is_mailable(session: Session, subscriber_id: int) -> bool:
    """True if the subscriber is active and not suppressed."""
    found = session.scalar(sa.select(Subscriber.id).where(Subscriber.id == subscriber_id, mailable_clause()))
    return found is not None


def profile_dict(subscriber: Subscriber) -> dict[str, object]:
    """The subscriber as plain data (for `lists show`, exports and the GDPR export)."""
    return {
        "email": subscriber.email,
        "status": subscriber.status.value,
        **{name: getattr(subscriber, name) for name in PROFILE_FIELDS},
        "attributes": dict(subscriber.attributes),
        "topics": sorted(t.topic_key for t in subscriber.topics),
        "tags": sorted(t.tag for t in subscriber.tags),
        "signup_date": subscriber.signup_date.isoformat()
        if isinstance(subscriber.signup_date, date)
        else str(subscriber.signup_date),
        "created_at": subscriber.created_at.isoformat(),
        "updated_at": subscriber.updated_at.isoformat(),
    }
