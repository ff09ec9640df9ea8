"""Deciding what an import would do, row by row, before anything is written.

Every record of a file is validated on its own (``import_rows.py``); rejected rows are kept with
their physical line number and reason. Accepted rows with the same address are merged (in file order:
a later non-empty value replaces an earlier one, topics and tags are unioned). Each address is then
classified against the database: new, update, unchanged, existing (skipped), kept out because it
unsubscribed, bounced, complained, was erased or is suppressed, or, for people who left at the tool
the file came from, to be suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.csv_read import Table
from outreach.audience.import_rows import (
    Candidate,
    Departure,
    ExistingPolicy,
    ImportOptions,
    RowError,
    RowRules,
    parse_date,
    validate,
)
from outreach.audience.schema import Subscriber, SubscriberStatus
from outreach.audience.suppression import suppressed_hashes
from outreach.audience.topics import TopicDefinition

__all__ = [
    "Candidate",
    "Departure",
    "ExistingPolicy",
    "ImportOptions",
    "ImportPlan",
    "parse_date",
    "plan_import",
]

KEPT_OUT_STATUSES = {
    SubscriberStatus.UNSUBSCRIBED,
    SubscriberStatus.BOUNCED,
    SubscriberStatus.COMPLAINED,
    SubscriberStatus.ERASED,
}
CHUNK = 500


@dataclass(frozen=True)
class Reject:
    line: int
    reason: str
    raw: tuple[str, ...]


@dataclass(frozen=True)
class KeptOut:
    line: int
    email: str
    reason: str


@dataclass(frozen=True)
class Update:
    """An existing subscriber and what the file adds or changes."""

    subscriber_id: int
    candidate: Candidate
    values: dict[str, Any]
    new_topics: frozenset[str]
    new_tags: frozenset[str]


@dataclass(frozen=True)
class Suppressing:
    """A person who left at the source, with the subscriber row it stops (if we have one)."""

    departure: Departure
    subscriber_id: int | None
    stops_mailing: bool  # the subscriber is active or unconfirmed and must stop


@dataclass
class ImportPlan:
    """What applying the file would do; nothing has been written when it exists."""

    new: list[Candidate] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    unchanged: int = 0
    skipped_existing: int = 0
    kept_out: list[KeptOut] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    merged_duplicates: int = 0
    rows: int = 0
    suppress: list[Suppressing] = field(default_factory=list)
    already_suppressed: int = 0


def _existing(session: Session, emails: list[str]) -> dict[str, Subscriber]:
    found: dict[str, Subscriber] = {}
    for start in range(0, len(emails), CHUNK):
        chunk = emails[start : start + CHUNK]
        for subscriber in session.scalars(
            sa.select(Subscriber).where(Subscriber.email.in_(chunk)).execution_options(populate_existing=True)
        ):
            assert subscriber.email is not None
            found[subscriber.email] = subscriber
    return found


def _existing_light(session: Session, emails: list[str]) -> dict[str, tuple[int, SubscriberStatus]]:
    found: dict[str, tuple[int, SubscriberStatus]] = {}
    for start in range(0, len(emails), CHUNK):
        chunk = emails[start : start + CHUNK]
        rows = session.execute(
            sa.select(Subscriber.email, Subscriber.id, Subscriber.status).where(Subscriber.email.in_(chunk))
        )
        for email, subscriber_id, status in rows:
            if email is not None:
                found[email] = (subscriber_id, status)
    return found


def _update_for(subscriber: Subscriber, candidate: Candidate) -> Update | None:
    values: dict[str, Any] = {}
    for name, value in candidate.profile.items():
        if getattr(subscriber, name) != value:
            values[name] = value
    merged = {**subscriber.attributes, **candidate.attributes}
    if merged != subscriber.attributes:
        values["attributes"] = merged
    # Only the topics the file names: default topics are for new subscribers (see Candidate).
    new_topics = frozenset(candidate.topics - {t.topic_key for t in subscriber.topics})
    new_tags = frozenset(candidate.tags - {t.tag for t in subscriber.tags})
    if not values and not new_topics and not new_tags:
        return None
    return Update(subscriber.id, candidate, values, new_topics, new_tags)


def _read(
    plan: ImportPlan, table: Table, options: ImportOptions, topics: tuple[TopicDefinition, ...]
) -> tuple[dict[str, Candidate], dict[str, Departure]]:
    """Validate every record; merge the accepted ones by address. Someone who left wins over any row
    that would subscribe them."""
    accepted: dict[str, Candidate] = {}
    departed: dict[str, Departure] = {}
    rules = RowRules(options, topics, table.format)
    for record in table.records:
        try:
            row = validate(record, rules)
        except RowError as err:
            plan.rejects.append(Reject(record.line, str(err), record.raw))
            continue
        if isinstance(row, Departure):
            if row.email in departed:
                plan.merged_duplicates += 1
            departed.setdefault(row.email, row)
            continue
        earlier = accepted.get(row.email)
        if earlier is None:
            accepted[row.email] = row
        else:
            earlier.merge(row)
            plan.merged_duplicates += 1
    for email in departed.keys() & accepted.keys():
        del accepted[email]
        plan.merged_duplicates += 1
    return accepted, departed


def _classify_departures(
    plan: ImportPlan, session: Session, departed: dict[str, Departure], suppressed: set[str]
) -> None:
    known = _existing_light(session, list(departed))
    for email, departure in departed.items():
        if departure.email_hash in suppressed:
            plan.already_suppressed += 1
            continue
        found = known.get(email)
        stops = found is not None and found[1] in (SubscriberStatus.ACTIVE, SubscriberStatus.UNCONFIRMED)
        plan.suppress.append(Suppressing(departure, found[0] if found else None, stops))


def plan_import(
    session: Session,
    table: Table,
    options: ImportOptions,
    topics: tuple[TopicDefinition, ...],
) -> ImportPlan:
    """Validate every record and classify every address; reads the database, writes nothing."""
    plan = ImportPlan(rows=len(table.records))
    accepted, departed = _read(plan, table, options, topics)
    emails = list(accepted)
    hashes = [c.email_hash for c in accepted.values()] + [d.email_hash for d in departed.values()]
    suppressed = suppressed_hashes(session, hashes)
    _classify_departures(plan, session, departed, suppressed)
    if options.policy is ExistingPolicy.UPDATE:
        full = _existing(session, emails)
        light = {email: (s.id, s.status) for email, s in full.items()}
    else:
        full, light = {}, _existing_light(session, emails)
    for email, candidate in accepted.items():
        known = light.get(email)
        if candidate.email_hash in suppressed:
            plan.kept_out.append(KeptOut(candidate.line, email, "on the suppression list"))
        elif known is not None and known[1] in KEPT_OUT_STATUSES:
            plan.kept_out.append(KeptOut(candidate.line, email, known[1].value))
        elif known is None:
            plan.new.append(candidate)
        elif options.policy is ExistingPolicy.SKIP:
            plan.skipped_existing += 1
        else:
            update = _update_for(full[email], candidate)
            if update is None:
                plan.unchanged += 1
            else:
                plan.updates.append(update)
    return plan
