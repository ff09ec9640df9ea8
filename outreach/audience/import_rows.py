"""One row of an import, checked on its own: a person to add or update, a person who left, or a reason.

Every field is validated per row, so one bad row is rejected with its line and reason and the rest
imports: the address, undecodable bytes, the consent basis, free text (cleaned, and within the
lengths the database columns hold, which PostgreSQL enforces), the role and language (from the
site's ``[audience]`` lists), topics, tags, dates and the JSON attributes some tools export. A row
whose status says the person unsubscribed, bounced, complained or was blocked at the tool it came
from becomes a ``Departure``: it goes on the suppression list, never into the subscribers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outreach.audience.addresses import InvalidAddress, email_hash, normalise_email
from outreach.audience.choices import ProfileChoices, profile_choices
from outreach.audience.csv_formats import (
    KNOWN_STATUSES,
    SUPPRESSED_AS,
    NotAnObject,
    Standing,
    json_attributes,
    split_tags,
    standing_of,
)
from outreach.audience.csv_read import Record, snake_case
from outreach.audience.free_text import clean_text
from outreach.audience.schema import SuppressionReason
from outreach.audience.topics import TopicDefinition

# The lengths of the subscribers' text columns (schema.py): PostgreSQL refuses longer values.
TEXT_LIMITS = {"first_name": 200, "last_name": 200, "organisation": 300, "region": 100, "time_zone": 64}
TAG_LIMIT = 100
_SAYS_WHO_LEFT = {"status", "unsubscribed_at", "cleaned_at"}
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[ T]\d")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d", "%d.%m.%Y")


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
    choices: ProfileChoices = field(default_factory=profile_choices)


@dataclass
class Candidate:
    """One accepted address with everything the file says about it."""

    line: int
    email: str
    email_hash: str
    consent: str
    profile: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)  # named in the file or by --topic
    tags: set[str] = field(default_factory=set)
    signup_date: date | None = None
    # The default topics of topics.yaml, for a row that names none: a new subscriber gets them, an
    # existing one never does (an attributes-only update must not subscribe anyone to anything).
    default_topics: set[str] = field(default_factory=set)

    @property
    def new_topics(self) -> set[str]:
        """The topics a new subscriber starts with."""
        return self.topics or self.default_topics

    def merge(self, later: Candidate) -> None:
        self.profile.update(later.profile)
        self.attributes.update(later.attributes)
        self.topics |= later.topics
        self.default_topics |= later.default_topics
        self.tags |= later.tags
        self.signup_date = later.signup_date or self.signup_date


@dataclass(frozen=True)
class Departure:
    """A person who left at the source: put on the suppression list, never subscribed."""

    line: int
    email: str
    email_hash: str
    reason: SuppressionReason
    note: str


class RowError(Exception):
    """Why a row is rejected, in words an admin can act on."""


@dataclass(frozen=True)
class RowRules:
    """What every row of one file is checked against, prepared once (imports check 100,000 rows)."""

    options: ImportOptions
    topics: tuple[TopicDefinition, ...]
    source: str = ""  # the tool the file came from, for suppression notes
    topic_keys: Mapping[str, str] = field(init=False)  # key or name, folded -> key
    default_topics: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for topic in reversed(self.topics):  # the first topic wins a clash
            index[topic.name.casefold()] = topic.key
            index[topic.key.casefold()] = topic.key
        object.__setattr__(self, "topic_keys", index)
        object.__setattr__(self, "default_topics", frozenset(t.key for t in self.topics if t.default))


def parse_date(text: str) -> date:
    """A date in ISO or US spreadsheet form, or an ISO timestamp's day; RowError otherwise."""
    us = _US_DATE.fullmatch(text)
    stamp = _TIMESTAMP.match(text)
    try:
        if us:  # the spreadsheet form, without strptime's cost (imports parse one per row)
            return date(int(us.group(3)), int(us.group(1)), int(us.group(2)))
        return date.fromisoformat(stamp.group(1) if stamp else text)
    except ValueError:
        pass
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise RowError(f"{text!r} is not a date (write it as YYYY-MM-DD or MM/DD/YYYY)")


def validate(record: Record, rules: RowRules) -> Candidate | Departure:
    """One record -> a Candidate or a Departure, or RowError with the reason it is rejected."""
    options = rules.options
    if record.broken:
        raise RowError(
            "some of its bytes are not valid text (the file is damaged here); correct the row and "
            "import the file again"
        )
    if "__extra__" in record.fields:
        raise RowError("the row has more cells than the header has columns")
    email = _email(record.fields.get("email", ""))
    departure = _departure(record, email, rules.source)
    if departure is not None:
        return departure
    consent = clean_text(record.fields.get("consent") or options.consent or "")
    if not consent:
        raise RowError("no consent basis: fill the consent column or pass --consent")
    signup = record.fields.get("signup_date")
    named = _topics(record, rules)
    return Candidate(
        line=record.line,
        email=email,
        email_hash=email_hash(email),
        consent=consent,
        profile=_profile(record.fields, options.choices),
        attributes=_attributes(record),
        topics=named,
        tags=_tags(record.fields.get("tags", "")) | set(options.tags),
        signup_date=parse_date(signup) if signup else None,
        default_topics=set() if named else set(rules.default_topics),
    )


def _email(raw: str) -> str:
    if not raw:
        raise RowError("no email address")
    try:
        return normalise_email(raw)
    except InvalidAddress as err:
        raise RowError(str(err)) from None


def _departure(record: Record, email: str, source: str) -> Departure | None:
    if not _SAYS_WHO_LEFT & record.fields.keys():
        return None
    status = record.fields.get("status", "")
    left_at = record.fields.get("cleaned_at") or record.fields.get("unsubscribed_at") or ""
    standing = standing_of(
        status, record.fields.get("unsubscribed_at", ""), record.fields.get("cleaned_at", "")
    )
    if standing is None:
        raise RowError(
            f"unknown status {status!r}; known: {', '.join(KNOWN_STATUSES)}. If that column is not "
            'about mail (a membership status), import it as an attribute: --map "Status=attributes.status"'
        )
    if standing is Standing.UNCONFIRMED:
        raise RowError(f"status {status!r}: never confirmed at the source, so there is no consent to import")
    if standing is Standing.INACTIVE:
        raise RowError(f"status {status!r}: not receiving mail at the source, so it is not imported")
    reason = SUPPRESSED_AS.get(standing)
    if reason is None:
        return None
    word = status or standing.value
    note = clean_text(f"{source or 'import'}: {word}" + (f" at {left_at}" if left_at else ""))
    return Departure(record.line, email, email_hash(email), reason, note)


def _topics(record: Record, rules: RowRules) -> set[str]:
    """The topics the row (or --topic) names; empty when it names none."""
    names = split_tags(record.fields.get("topics", ""))
    if not names:
        return set(rules.options.topics)
    keys = set()
    for name in names:
        key = rules.topic_keys.get(name.strip().casefold())
        if key is None:
            known = ", ".join(t.key for t in rules.topics)
            raise RowError(f"unknown topic {name!r}; known: {known}")
        keys.add(key)
    return keys


def _profile(fields: Mapping[str, str], choices: ProfileChoices) -> dict[str, str]:
    profile: dict[str, str] = {}
    for name, limit in TEXT_LIMITS.items():
        value = clean_text(fields[name]) if name in fields else ""
        if len(value) > limit:
            raise RowError(f"{name} is {len(value)} characters long; the limit is {limit}")
        if value:
            profile[name] = value
    full = clean_text(fields.get("full_name", ""))
    if full and "first_name" not in profile and "last_name" not in profile:
        first, _, last = full.rpartition(" ")
        profile["first_name"], profile["last_name"] = (first, last) if first else (last, "")
        if max(len(profile["first_name"]), len(profile["last_name"])) > TEXT_LIMITS["first_name"]:
            raise RowError(f"the name is longer than {TEXT_LIMITS['first_name']} characters")
    for name, listed in (("role", choices.roles), ("language", choices.languages)):
        value = clean_text(fields[name]) if name in fields else ""
        if value:
            key = listed.resolve(value)
            if key is None:
                raise RowError(listed.unknown(value))
            profile[name] = key
    if "time_zone" in profile:
        try:
            ZoneInfo(profile["time_zone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise RowError(
                f"unknown time zone {profile['time_zone']!r}; use an IANA name like America/New_York"
            ) from None
    return profile


def _attributes(record: Record) -> dict[str, str]:
    try:
        found = json_attributes(record.fields.get("attributes", ""))
    except NotAnObject as err:
        raise RowError(f"the attributes column {err}") from None
    attributes = {snake_case(key): clean_text(value) for key, value in found.items()}
    attributes.update((key, clean_text(value)) for key, value in record.attributes.items())
    for key, value in attributes.items():
        if key.endswith("_date") and value:
            try:
                attributes[key] = parse_date(value).isoformat()
            except RowError as err:
                raise RowError(f"{key}: {err}") from None
    return attributes


def _tags(text: str) -> set[str]:
    tags = {clean_text(tag) for tag in split_tags(text)} - {""}
    long = next((tag for tag in sorted(tags) if len(tag) > TAG_LIMIT), None)
    if long is not None:
        raise RowError(f"the tag {long[:40]!r}... is longer than {TAG_LIMIT} characters")
    return tags
