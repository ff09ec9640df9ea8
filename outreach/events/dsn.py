"""RFC 3464 delivery status notifications (bounces) sent back to SMTP senders.

A DSN is ``multipart/report; report-type=delivery-status``: a human part, a ``message/delivery-status``
part (one block of per-message fields, then one block per recipient) and often the original message.
Only ``Action: failed`` is a bounce; ``delayed``, ``delivered``, ``relayed`` and ``expanded`` are not.
A failure is hard when RFC 3463 says the address itself is wrong or gone (the same table the SMTP
transport uses: 5.1.x, 5.2.1, 5.4.x, ...) and soft otherwise (4.x.x, mailbox full 5.2.2, policy 5.7.x),
so one ambiguous report never suppresses a person on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from typing import Any

from outreach.events.model import Event, EventKind, event_id, text
from outreach.events.reports import (
    address,
    headline,
    original,
    report_id,
    return_paths,
    when,
)
from outreach.events.reports import (
    field as report_field,
)
from outreach.transports.base import Outcome
from outreach.transports.smtp_codes import classify_smtp

PROVIDER = "smtp"
_STATUS = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")
_BASIC = re.compile(r"^(?:smtp;\s*)?([245]\d\d)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Reading:
    """What one report said: its events, or why it gave none (a delay is not a bounce)."""

    events: list[Event] = field(default_factory=list)
    note: str = ""


def is_dsn(message: Message) -> bool:
    return message.get_content_type() == "multipart/report" and any(
        part.get_content_type() == "message/delivery-status" for part in message.walk()
    )


def _blocks(message: Message) -> list[Message]:
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                return [block for block in payload if isinstance(block, Message)]
    return []


def classify(status: str, diagnostic: str) -> EventKind:
    """Hard or soft, from the Status field and the Diagnostic-Code (``smtp; 550 5.1.1 ...``)."""
    if status.startswith("4"):
        return EventKind.BOUNCED_SOFT
    basic = _BASIC.match(diagnostic)
    code = int(basic.group(1)) if basic else 550
    if code < 500 and not status.startswith("5"):
        return EventKind.BOUNCED_SOFT
    rest = diagnostic[basic.end() :].lstrip(" -") if basic else diagnostic
    said = f"{status} {rest}" if _STATUS.match(status) else rest
    outcome = classify_smtp(max(code, 500), said)
    return EventKind.BOUNCED_HARD if outcome is Outcome.BOUNCED else EventKind.BOUNCED_SOFT


def read_dsn(message: Message, raw: bytes, received_at: datetime) -> Reading:
    """The bounces in one DSN; the recipient from Original-/Final-Recipient (else the original's To),
    the message from the VERP return path or the original Message-ID (verified when applied)."""
    blocks = _blocks(message)
    if not blocks:
        return Reading(note="a delivery status report without status fields")
    per_message, recipients = blocks[0], blocks[1:] or blocks[:1]
    about = original(message)
    sent_from = return_paths(message, about.return_path)
    reported = when(report_field(per_message, "Arrival-Date") or None, when(message.get("Date"), received_at))
    events: list[Event] = []
    actions: list[str] = []
    for block in recipients:
        action = report_field(block, "Action").lower()
        actions.append(action or "none")
        if action != "failed":
            continue
        recipient = address(report_field(block, "Original-Recipient")) or address(
            report_field(block, "Final-Recipient")
        )
        status = report_field(block, "Status").split(" ")[0]
        diagnostic = report_field(block, "Diagnostic-Code")
        kind = classify(status, diagnostic)
        raw_data: dict[str, Any] = {
            "report": headline(message),
            "recipient": {name: " ".join(str(value).split()) for name, value in block.items()},
            "original_message_id": about.message_id,
        }
        events.append(
            Event(
                kind=kind,
                provider=PROVIDER,
                # The message's identifiers are part of the id: a forged report that copies a real
                # one's Message-ID cannot take its place and turn the real one into a "duplicate".
                provider_event_id=event_id(
                    "", "dsn", report_id(message, raw), recipient, status, about.message_id, sent_from
                ),
                occurred_at=when(report_field(block, "Last-Attempt-Date") or None, reported),
                recipient=recipient or about.recipient,
                message_id=about.message_id,
                return_paths=sent_from,
                detail=text(f"{status} {diagnostic}".strip()),
                raw=raw_data,
            )
        )
    if events:
        return Reading(events)
    if "delayed" in actions:
        return Reading(note="delayed: the server is still trying; not a bounce")
    return Reading(note=f"no failed recipient (Action: {', '.join(actions)})")
