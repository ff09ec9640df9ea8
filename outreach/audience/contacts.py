"""A list of contacts for a one-off letter: read from a CSV, checked row by row, saved as contacts.

A one-off letter (``outreach send LETTER --recipients contacts.csv``) goes to people who are not on
any list: partner agencies, speakers, funders. Each still needs a row in ``subscribers`` so the ledger,
the suppression list, the signed unsubscribe link, bounce and complaint events and erasure work for
them exactly as for a subscriber. Such a row has the status ``contact``: no topic, segment, count of
subscribers or newsletter ever includes it. Someone who already has a row keeps it as it is (a
subscriber stays a subscriber; their CSV columns personalise this letter only). Why we may write to
them (the ``--consent`` note: a legitimate interest) goes to the consent log with each contact.

The file is read like an import (``csv_read``: encodings, separators, header aliases), so a column
called Agency is ``organisation``; every other column keeps its header in snake_case. Those names are
what the letter may use as ``{{ recipient.NAME }}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.addresses import InvalidAddress, email_hash, normalise_email
from outreach.audience.consent import Consent, event_row
from outreach.audience.csv_read import read_table
from outreach.audience.free_text import clean_text
from outreach.audience.schema import (
    STILL_WRITTEN_TO,
    ConsentAction,
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
    SubscriberTopic,
    Suppression,
)
from outreach.audience.subscribers import known_topics
from outreach.clock import Clock
from outreach.errors import AudienceError

# Columns an import understands that mean nothing for a letter: never personalisation fields.
_IMPORT_ONLY = frozenset(
    {"topics", "tags", "consent", "signup_date", "status", "unsubscribed_at", "cleaned_at"}
)
_PROFILE = ("first_name", "last_name", "organisation", "role", "region", "language")


@dataclass(frozen=True)
class Contact:
    """One valid row: its line in the file, the normal address and the row's fields by name."""

    row: int
    email: str
    fields: dict[str, str]

    @property
    def email_hash(self) -> str:
        return email_hash(self.email)


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be sent to, and what to change in the file."""

    row: int
    reason: str


@dataclass(frozen=True)
class LeftOut:
    """A valid row nobody will write to this time, and why (suppressed, unsubscribed, a repeat...)."""

    row: int
    email: str
    why: str


@dataclass(frozen=True)
class ContactList:
    """A contacts file, read: the names its columns give the letter, the valid rows and the bad ones."""

    path: Path
    columns: tuple[str, ...]
    contacts: tuple[Contact, ...]
    invalid: tuple[BadRow, ...]
    repeats: tuple[LeftOut, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name


def read_contacts(path: Path) -> ContactList:
    """Read and check a contacts CSV; a file that cannot be read at all is ImportRejected."""
    table = read_table(path)
    names = _column_names(table.columns)
    contacts: list[Contact] = []
    invalid: list[BadRow] = []
    repeats: list[LeftOut] = []
    first_row: dict[str, int] = {}
    for record in table.records:
        if record.broken:
            invalid.append(
                BadRow(record.line, "some characters in this row could not be read; save the file as UTF-8")
            )
            continue
        if "__extra__" in record.fields:
            invalid.append(
                BadRow(
                    record.line,
                    f"this row has {record.fields['__extra__']} cells but the header has "
                    f"{len(table.header)}; a comma inside a value needs quotes around the value",
                )
            )
            continue
        try:
            address = normalise_email(record.fields.get("email", ""))
        except InvalidAddress as err:
            invalid.append(BadRow(record.line, f"{err}; correct the email column"))
            continue
        if address in first_row:
            repeats.append(LeftOut(record.line, address, f"listed twice (first at row {first_row[address]})"))
            continue
        first_row[address] = record.line
        values = {k: v for k, v in record.fields.items() if k not in _IMPORT_ONLY and k != "__extra__"}
        values.update(record.attributes)
        values["email"] = address
        contacts.append(Contact(record.line, address, {k: clean_text(v) for k, v in values.items()}))
    return ContactList(path, names, tuple(contacts), tuple(invalid), tuple(repeats))


def _column_names(columns: Sequence[str]) -> tuple[str, ...]:
    names = [c.removeprefix("attributes.") for c in columns if c != "ignore" and c not in _IMPORT_ONLY]
    if "full_name" not in names and ("first_name" in names or "last_name" in names):
        names.append("full_name")  # made from the two, as for a subscriber
    return tuple(names)


@dataclass(frozen=True)
class Standing:
    """Where the file's addresses stand in the database: each one's row id and status, suppressed ones."""

    existing: dict[str, tuple[int, SubscriberStatus]] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)

    def why_not(self, contact: Contact) -> str:
        """Why this contact may not be written to ("" if they may), in the words the plan shows."""
        found = self.existing.get(contact.email_hash)
        if found is not None and found[1] not in STILL_WRITTEN_TO:
            return str(found[1])
        if contact.email_hash in self.suppressed:
            return "suppressed"
        return ""


def standing(session: Session, contacts: Iterable[Contact]) -> Standing:
    """Look every address up by its hash (an erased person is known by the hash alone)."""
    hashes = sorted({c.email_hash for c in contacts})
    result = Standing()
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        for row_id, hashed, status in session.execute(
            sa.select(Subscriber.id, Subscriber.email_hash, Subscriber.status).where(
                Subscriber.email_hash.in_(chunk)
            )
        ):
            result.existing[hashed] = (row_id, status)
        result.suppressed.update(
            session.scalars(sa.select(Suppression.email_hash).where(Suppression.email_hash.in_(chunk)))
        )
    return result


def save_contacts(
    session: Session,
    contacts: Sequence[Contact],
    *,
    consent: Consent,
    clock: Clock,
    add_to_topic: str | None = None,
) -> dict[str, int]:
    """Make sure each contact has a row (a new ``contact``, or their existing row as it is); log why
    we may write to them; return each address's row id.

    With ``add_to_topic`` they join that topic as active subscribers (the person sending affirms
    they agreed), an existing active subscriber joins the topic, and each change is in the consent
    log. Call only for contacts the plan found writable.
    """
    if add_to_topic is not None and add_to_topic not in known_topics(session):
        known = ", ".join(sorted(known_topics(session))) or "none"
        raise AudienceError(f"--add-to-list {add_to_topic!r}: no such topic; known: {known}")
    now = clock.now()
    found = standing(session, contacts)
    ids: dict[str, int] = {}
    events: list[dict[str, object]] = []
    joined: list[int] = []
    for contact in contacts:
        hashed = contact.email_hash
        existing = found.existing.get(hashed)
        if existing is None:
            subscriber = Subscriber(
                email=contact.email,
                email_hash=hashed,
                **{name: contact.fields.get(name, "") for name in _PROFILE if name != "language"},
                language=contact.fields.get("language") or "en",
                status=SubscriberStatus.CONTACT,  # _join makes them subscribers if asked
                attributes={},
                signup_date=now.date(),
                created_at=now,
                updated_at=now,
            )
            _names_from_full(subscriber, contact.fields.get("full_name", ""))
            session.add(subscriber)
            session.flush()
            row_id, was = subscriber.id, None
        else:
            row_id, was = existing
        ids[contact.email] = row_id
        events.append(
            event_row(
                subscriber_id=row_id,
                email_hash=hashed,
                action=ConsentAction.CONTACTED,
                consent=consent,
                at=now,
            )
        )
        if add_to_topic and was in (None, SubscriberStatus.CONTACT, SubscriberStatus.ACTIVE):
            joined.append(row_id)
    if events:
        session.execute(sa.insert(ConsentEvent), events)
    if joined:
        _join(session, joined, add_to_topic or "", consent, now)
    return ids


def _names_from_full(subscriber: Subscriber, full_name: str) -> None:
    if full_name and not (subscriber.first_name or subscriber.last_name):
        first, _, last = full_name.partition(" ")
        subscriber.first_name, subscriber.last_name = first, last.strip()


def _join(session: Session, ids: list[int], topic: str, consent: Consent, now: datetime) -> None:
    """Make these rows active subscribers of ``topic`` (contacts become subscribers), logged."""
    have = set(
        session.scalars(
            sa.select(SubscriberTopic.subscriber_id).where(
                SubscriberTopic.topic_key == topic, SubscriberTopic.subscriber_id.in_(ids)
            )
        )
    )
    rows = session.execute(
        sa.select(Subscriber.id, Subscriber.email_hash, Subscriber.status).where(Subscriber.id.in_(ids))
    ).all()
    events: list[dict[str, object]] = []
    for row_id, hashed, status in rows:
        if status is SubscriberStatus.CONTACT:
            session.execute(
                sa.update(Subscriber)
                .where(Subscriber.id == row_id)
                .values(status=SubscriberStatus.ACTIVE, updated_at=now)
            )
            events.append(
                event_row(
                    subscriber_id=row_id,
                    email_hash=hashed,
                    action=ConsentAction.SUBSCRIBED,
                    consent=consent,
                    at=now,
                    topics=topic,
                )
            )
        if row_id not in have:
            session.add(SubscriberTopic(subscriber_id=row_id, topic_key=topic))
            events.append(
                event_row(
                    subscriber_id=row_id,
                    email_hash=hashed,
                    action=ConsentAction.TOPIC_ADDED,
                    consent=consent,
                    at=now,
                    topics=topic,
                )
            )
    if events:
        session.execute(sa.insert(ConsentEvent), events)
    session.flush()
