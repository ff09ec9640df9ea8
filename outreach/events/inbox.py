"""``outreach bounces process``: read the bounce (and unsubscribe) mailbox and apply what it reports.

Three kinds of mail are understood: RFC 3464 delivery status notifications (bounces), RFC 5965
feedback reports (complaints), and ``mailto:`` unsubscribes (a subject ``unsubscribe-TOKEN``, written
by the reader's mail program from the List-Unsubscribe header). Anyone can send mail to these
mailboxes, so reports are applied with ``Trust.MAILBOX`` (they must name a message of ours by a VERP
return path or Message-ID that verifies) and an unsubscribe is honoured only for a valid token.

Each message is read and applied in its own transaction. A message that cannot be read or applied
(malformed beyond what mail servers write, data a database refuses) is quarantined, reported, and
the rest are processed, so one poison message never blocks every later bounce. A database that stops
answering stops the run instead: nothing is quarantined for a fault that is not the message's.
"""

from __future__ import annotations

import email
import email.policy
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience import transaction
from outreach.clock import Clock
from outreach.errors import DatabaseError
from outreach.events.apply import Outcome, Trust, apply_events
from outreach.events.arf import is_arf, read_arf
from outreach.events.dsn import Reading, is_dsn, read_dsn
from outreach.events.mailboxes import Item, items, mark_seen, quarantine
from outreach.events.model import EventError, clean
from outreach.events.unsubscribes import leave_by_mail
from outreach.tokens import MAILTO_SUBJECT, Keys, read_mailto_subject

log = logging.getLogger("outreach.events")
NOT_A_REPORT = (
    "not a delivery status notification (RFC 3464), a feedback report (RFC 5965) or an unsubscribe request"
)


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A message that changed nothing, and why."""

    where: str
    subject: str
    reason: str


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A message that could not be handled, why, and where it was put."""

    where: str
    subject: str
    reason: str
    moved_to: str = ""


@dataclass
class MailboxReport:
    """What one run did: new events per kind, unsubscribes, duplicates, what matched nothing, and
    what was quarantined."""

    messages: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    unsubscribed: int = 0
    duplicates: int = 0
    moved: int = 0
    unmatched: list[Unmatched] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)


def parse(raw: bytes) -> Message:
    """A message as the stdlib reads it (compat32: it never raises on a malformed header)."""
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def read_message(raw: bytes, received_at: datetime) -> Reading:
    """The events one mailbox message reports (none, with a note, for anything else)."""
    return reading_of(parse(raw), raw, received_at)


def reading_of(message: Message, raw: bytes, received_at: datetime) -> Reading:
    """``read_message`` of a message already parsed."""
    if is_arf(message):
        return read_arf(message, raw, received_at)
    if is_dsn(message):
        return read_dsn(message, raw, received_at)
    return Reading(note=NOT_A_REPORT)


def subject_of(message: Message) -> str:
    """The Subject as one readable line (RFC 2047 words decoded), at most 200 characters."""
    value = message.get("Subject", "")
    try:
        decoded = str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError):
        decoded = str(value)
    return clean(" ".join(decoded.split()))[:200]


def _apply_reading(
    engine: Engine,
    item: Item,
    subject: str,
    reading: Reading,
    clock: Clock,
    keys: Keys,
    report: MailboxReport,
) -> None:
    with transaction(engine) as session:
        results = apply_events(session, reading.events, clock, keys=keys, trust=Trust.MAILBOX)
    for result in results:
        if result.outcome is Outcome.DUPLICATE:
            report.duplicates += 1
            continue
        report.kinds[result.event.kind.value] += 1
        if result.outcome is Outcome.UNMATCHED:
            who = result.event.recipient or result.event.message_id or "no recipient or Message-ID"
            reason = f"{result.event.kind.value} for {who}: changed nobody, {result.reason}"
            report.unmatched.append(Unmatched(item.where, subject, reason))


def _unsubscribe(
    engine: Engine, item: Item, subject: str, clock: Clock, keys: Keys, report: MailboxReport
) -> bool:
    """Honour an ``unsubscribe-TOKEN`` subject; False if the message is not one."""
    if MAILTO_SUBJECT not in subject:
        return False
    named = read_mailto_subject(keys, subject)
    if named is None:
        reason = "the unsubscribe token in the subject is not valid: nobody was unsubscribed"
        report.unmatched.append(Unmatched(item.where, subject, reason))
        return True
    with transaction(engine) as session:
        left = leave_by_mail(session, named, clock)
    if left.outcome is Outcome.UNMATCHED:
        reason = "the unsubscribe token names someone no longer on the list"
        report.unmatched.append(Unmatched(item.where, subject, reason))
    else:
        report.unsubscribed += 1
    return True


def handle(engine: Engine, item: Item, clock: Clock, keys: Keys, report: MailboxReport) -> None:
    """Read one message and apply it; exceptions mean the message could not be handled."""
    raw = item.read()
    message = parse(raw)
    subject = subject_of(message)
    reading = reading_of(message, raw, item.received_at)
    if reading.events:
        _apply_reading(engine, item, subject, reading, clock, keys, report)
    elif not _unsubscribe(engine, item, subject, clock, keys, report):
        report.unmatched.append(Unmatched(item.where, subject, reading.note))


def _subject_or_blank(item: Item) -> str:
    try:  # the headers only: the body may be what could not be read
        headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(item.read())
        return subject_of(headers)
    except Exception:  # only for the report line of a message already refused
        return ""


def _quarantine(item: Item, err: Exception, report: MailboxReport, move: bool) -> None:
    reason = f"could not be handled ({type(err).__name__}: {' '.join(str(err).split())[:200]})"
    log.warning("quarantining %s: %s", item.where, reason, exc_info=err)
    subject = _subject_or_blank(item)  # before the file moves
    moved_to = ""
    if move and item.movable and item.file is not None:
        try:
            moved_to = quarantine(item.file)
        except OSError as move_err:
            reason += f"; could not be moved aside: {move_err}"
    report.quarantined.append(Quarantined(item.where, subject, reason, moved_to))


def process(
    engine: Engine,
    path: Path,
    clock: Clock,
    *,
    keys: Keys,
    keep: bool = False,
    include_seen: bool = False,
) -> MailboxReport:
    """Apply every message in the mailbox; see ``outreach.events.mailboxes`` for what happens to
    the files. ``keys`` are the site's accepted keys (they verify VERP addresses, Message-IDs and
    unsubscribe tokens)."""
    report = MailboxReport()
    for item in items(path, include_seen):
        report.messages += 1
        try:
            handle(engine, item, clock, keys, report)
        except (sa.exc.OperationalError, sa.exc.InterfaceError, DatabaseError) as err:
            raise EventError(
                f"the database stopped answering while {path}/{item.where} was applied "
                f"({' '.join(str(err).split())[:200]}); "
                f"{report.messages - 1} messages before it were handled; run the command again"
            ) from err
        except Exception as err:  # any fault of one message must not stop the others
            _quarantine(item, err, report, move=not keep)
            continue
        if item.movable and item.file is not None and not keep:
            mark_seen(item.file)
            report.moved += 1
    return report
