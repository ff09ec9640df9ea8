"""Deciding what an import would do, row by row, before anything is written.

Every record of a file is validated (address syntax, consent basis, topics, dates); rejected rows
are kept with their physical line number and reason. Accepted rows with the same address are merged
(in file order: a later non-empty value replaces an earlier one, topics and tags are unioned). Each
address is then classified against the database: new, update, unchanged, existing (skipped), or
kept out because it unsubscribed, bounced, complained, was erased or is suppressed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.addresses import InvalidAddress, email_hash, normalise_email
from outreach.audience.csv_read import Record, Table
from outreach.audience.schema import Subscriber, SubscriberStatus
from outreach.audience.suppression import suppressed_hashes
from outreach.audience.topics import TopicDefinition, resolve_topic

PROFILE_COLUMNS = (
    "first_name",
    "last_name",
    "organisation",
    "role",
    "region",
    "language",
    "time_zone",
)
LANGUAGES = {
    "english": "en",
    "inglés": "en",
    "ingles": "en",
    "en": "en",
    "en-us": "en",
    "spanish": "es",
    "español": "es",
    "espanol": "es",
    "es": "es",
    "es-us": "es",
}
_LIST_SPLIT = re.compile(r"[;|,]")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d", "%d.%m.%Y")
KEPT_OUT_STATUSES = {
    SubscriberStatus.UNSUBSCRIBED,
    SubscriberStatus.BOUNCED,
    SubscriberStatus.COMPLAINED,
    SubscriberStatus.ERASED,
}
CHUNK = 500


class ExistingPolicy(StrEnum):
    """What an import does with an address that is already a subscriber."""

    SKIP = "skip"
    UPDATE = "update"


@dataclass(frozen=True)
class ImportOptions:
    """How to read and apply one file; see ``outreach lists import --help``."""

    consent: str | None = None
    policy: ExistingPolicy = ExistingPolicy.SKIP
    topics: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    notice_version: str = ""
    actor: str = ""


@dataclass
class Candidate:
    """One accepted address with everything the file says about it."""

    line: int
    email: str
    email_hash: str
    consent: str
    profile: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    signup_date: date | None = None

    def merge(self, later: Candidate) -> None:
        self.profile.update(later.profile)
        self.attributes.update(later.attributes)
        self.topics |= later.topics
        self.tags |= later.tags
        self.signup_date = later.signup_date or self.signup_date


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


class _RowError(Exception):
    pass


def parse_date(text: str) -> date:
    """A date in ISO or US spreadsheet form; _RowError otherwise."""
    us = _US_DATE.fullmatch(text)
    try:
        if us:  # the spreadsheet form, without strptime's cost (imports parse one per row)
            return date(int(us.group(3)), int(us.group(1)), int(us.group(2)))
        return date.fromisoformat(text)
    except ValueError:
        pass
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise _RowError(f"{text!r} is not a date (write it as YYYY-MM-DD or MM/DD/YYYY)")


def _split(text: str) -> list[str]:
    return [part.strip() for part in _LIST_SPLIT.split(text) if part.strip()]


def _topics(record: Record, options: ImportOptions, topics: tuple[TopicDefinition, ...]) -> set[str]:
    names = _split(record.fields.get("topics", ""))
    if not names:
        return set(options.topics or (t.key for t in topics if t.default))
    keys = set()
    for name in names:
        key = resolve_topic(name, topics)
        if key is None:
            known = ", ".join(t.key for t in topics)
            raise _RowError(f"unknown topic {name!r}; known: {known}")
        keys.add(key)
    return keys


def _profile(fields: Mapping[str, str]) -> dict[str, str]:
    profile = {name: fields[name] for name in PROFILE_COLUMNS if name in fields}
    full = fields.get("full_name", "")
    if full and "first_name" not in profile and "last_name" not in profile:
        first, _, last = full.rpartition(" ")
        profile["first_name"], profile["last_name"] = (first, last) if first else (last, "")
    if "language" in profile:
        language = profile["language"].casefold()
        profile["language"] = LANGUAGES.get(language, language)
    if "time_zone" in profile:
        try:
            ZoneInfo(profile["time_zone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise _RowError(
                f"unknown time zone {profile['time_zone']!r}; use an IANA name like America/New_York"
            ) from None
    return profile


def _attributes(record: Record) -> dict[str, str]:
    attributes = dict(record.attributes)
    for key, value in attributes.items():
        if key.endswith("_date"):
            try:
                attributes[key] = parse_date(value).isoformat()
            except _RowError as err:
                raise _RowError(f"{key}: {err}") from None
    return attributes


def validate(record: Record, options: ImportOptions, topics: tuple[TopicDefinition, ...]) -> Candidate:
    """One record -> a Candidate, or _RowError with the reason it is rejected."""
    if "__extra__" in record.fields:
        raise _RowError("the row has more cells than the header has columns")
    raw_email = record.fields.get("email", "")
    if not raw_email:
        raise _RowError("no email address")
    try:
        email = normalise_email(raw_email)
    except InvalidAddress as err:
        raise _RowError(str(err)) from None
    consent = record.fields.get("consent") or options.consent
    if not consent:
        raise _RowError("no consent basis: fill the consent column or pass --consent")
    signup = record.fields.get("signup_date")
    return Candidate(
        line=record.line,
        email=email,
        email_hash=email_hash(email),
        consent=consent,
        profile=_profile(record.fields),
        attributes=_attributes(record),
        topics=_topics(record, options, topics),
        tags=set(_split(record.fields.get("tags", ""))) | set(options.tags),
        signup_date=parse_date(signup) if signup else None,
    )


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
    new_topics = frozenset(candidate.topics - {t.topic_key for t in subscriber.topics})
    new_tags = frozenset(candidate.tags - {t.tag for t in subscriber.tags})
    if not values and not new_topics and not new_tags:
        return None
    return Update(subscriber.id, candidate, values, new_topics, new_tags)


def plan_import(
    session: Session,
    table: Table,
    options: ImportOptions,
    topics: tuple[TopicDefinition, ...],
) -> ImportPlan:
    """Validate every record and classify every address; reads the database, writes nothing."""
    plan = ImportPlan(rows=len(table.records))
    accepted: dict[str, Candidate] = {}
    for record in table.records:
        try:
            candidate = validate(record, options, topics)
        except _RowError as err:
            plan.rejects.append(Reject(record.line, str(err), record.raw))
            continue
        earlier = accepted.get(candidate.email)
        if earlier is None:
            accepted[candidate.email] = candidate
        else:
            earlier.merge(candidate)
            plan.merged_duplicates += 1
    emails = list(accepted)
    suppressed = suppressed_hashes(session, [c.email_hash for c in accepted.values()])
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
