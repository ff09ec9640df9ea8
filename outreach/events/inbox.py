"""``outreach bounces process``: read a bounce mailbox (Maildir or mbox) and apply what it reports.

Each message is read on its own and applied in its own transaction, so one odd message never blocks
the rest. In a Maildir, messages are taken from ``new/`` and, once applied, moved to ``cur/`` with the
Seen flag (``:2,S``) the way a mail client would, so the next run reads only what arrived since;
``keep=True`` leaves them where they are and ``include_seen=True`` reads ``cur/`` too (re-reading is
harmless: every event is applied once). An mbox file is read and never changed.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from outreach.audience import transaction
from outreach.clock import Clock
from outreach.events.apply import SOFT_BOUNCE_LIMIT, Outcome, apply_events
from outreach.events.arf import is_arf, read_arf
from outreach.events.dsn import Reading, is_dsn, read_dsn
from outreach.events.model import EventError


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A message that changed nothing, and why."""

    where: str
    subject: str
    reason: str


@dataclass
class MailboxReport:
    """What one run did: new events per kind, duplicates, and the messages that matched nothing."""

    messages: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    moved: int = 0
    unmatched: list[Unmatched] = field(default_factory=list)


def read_message(raw: bytes, received_at: datetime) -> Reading:
    """The events one mailbox message reports (none, with a note, for anything else)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if is_arf(message):
        return read_arf(message, raw, received_at)
    if is_dsn(message):
        return read_dsn(message, raw, received_at)
    return Reading(note="not a delivery status notification (RFC 3464) or feedback report (RFC 5965)")


def _subject(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    return " ".join(str(message.get("Subject", "")).split())[:120]


@dataclass(frozen=True, slots=True)
class _Item:
    where: str
    raw: bytes
    received_at: datetime
    path: Path | None  # a Maildir file, moved to cur/ once applied


def _maildir(folder: Path, include_seen: bool) -> Iterator[_Item]:
    subfolders = ("new", "cur") if include_seen else ("new",)
    for sub in subfolders:
        for path in sorted((folder / sub).iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            received = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            yield _Item(f"{sub}/{path.name}", path.read_bytes(), received, path if sub == "new" else None)


def _mbox(file: Path) -> Iterator[_Item]:
    box = mailbox.mbox(file, create=False)
    try:
        for position, key in enumerate(box.iterkeys(), start=1):
            yield _Item(f"{file.name}#{position}", box.get_bytes(key), datetime.now(UTC), None)
    finally:
        box.close()


def items(path: Path, include_seen: bool = False) -> Iterator[_Item]:
    """The messages of a Maildir folder (``new/``, and ``cur/`` if asked) or an mbox file."""
    if path.is_dir():
        if not (path / "new").is_dir() or not (path / "cur").is_dir():
            raise EventError(f"{path} is a folder but not a Maildir (no new/ and cur/ inside)")
        return _maildir(path, include_seen)
    if path.is_file():
        return _mbox(path)
    raise EventError(f"{path} does not exist; give a Maildir folder or an mbox file")


def _mark_seen(path: Path) -> None:
    name = path.name.split(":", 1)[0]
    os.replace(path, path.parent.parent / "cur" / f"{name}:2,S")


def process(
    engine: Engine,
    path: Path,
    clock: Clock,
    *,
    soft_bounce_limit: int = SOFT_BOUNCE_LIMIT,
    keep: bool = False,
    include_seen: bool = False,
) -> MailboxReport:
    """Apply every report in the mailbox; see the module docstring for what happens to the files."""
    report = MailboxReport()
    for item in items(path, include_seen):
        report.messages += 1
        reading = read_message(item.raw, item.received_at)
        if not reading.events:
            report.unmatched.append(Unmatched(item.where, _subject(item.raw), reading.note))
        else:
            with transaction(engine) as session:
                results = apply_events(session, reading.events, clock, soft_bounce_limit=soft_bounce_limit)
            for result in results:
                if result.outcome is Outcome.DUPLICATE:
                    report.duplicates += 1
                    continue
                report.kinds[result.event.kind.value] += 1
                if result.outcome is Outcome.UNMATCHED:
                    who = result.event.recipient or result.event.message_id or "no recipient or Message-ID"
                    reason = f"{result.event.kind.value} for {who}: {result.reason}"
                    report.unmatched.append(Unmatched(item.where, _subject(item.raw), reason))
        if item.path is not None and not keep:
            _mark_seen(item.path)
            report.moved += 1
    return report
