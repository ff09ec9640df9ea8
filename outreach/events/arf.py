"""RFC 5965 abuse feedback reports (ARF): a mailbox provider telling us a person marked us as spam.

A report is ``multipart/report; report-type=feedback-report`` with a ``message/feedback-report`` part
(``Feedback-Type``, ``Original-Rcpt-To``, ``Original-Mail-From``, ``Arrival-Date``...) and the original
message or its headers. Providers often redact the recipient, so the message is named by the VERP
return path in ``Original-Mail-From`` or the original Message-ID (both verified when applied).
``abuse`` and ``fraud`` are complaints; ``not-spam``, ``auth-failure`` and ``virus`` are not about the
person's wishes.
"""

from __future__ import annotations

from datetime import datetime
from email.message import Message
from email.parser import HeaderParser

from outreach.events.dsn import Reading
from outreach.events.model import Event, EventKind, event_id, text
from outreach.events.reports import address, field, headline, original, report_id, return_paths, when

PROVIDER = "smtp"
COMPLAINT_TYPES = ("abuse", "fraud")


def is_arf(message: Message) -> bool:
    return message.get_content_type() == "multipart/report" and any(
        part.get_content_type() == "message/feedback-report" for part in message.walk()
    )


def _fields(message: Message) -> Message | None:
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            if isinstance(payload, str):
                return HeaderParser().parsestr(payload.lstrip())
    return None


def read_arf(message: Message, raw: bytes, received_at: datetime) -> Reading:
    """The complaint in one feedback report, or a note saying why it is not one."""
    fields = _fields(message)
    if fields is None:
        return Reading(note="a feedback report without its feedback-report part")
    feedback = field(fields, "Feedback-Type").lower()
    if feedback not in COMPLAINT_TYPES:
        return Reading(note=f"Feedback-Type {feedback or 'missing'}: not a complaint")
    about = original(message)
    # Only Original-Rcpt-To names the person: providers redact the attached copy's To line.
    recipient = address(field(fields, "Original-Rcpt-To"))
    sent_from = return_paths(message, field(fields, "Original-Mail-From"), about.return_path)
    event = Event(
        kind=EventKind.COMPLAINED,
        provider=PROVIDER,
        provider_event_id=event_id("", "arf", report_id(message, raw), about.message_id, sent_from),
        occurred_at=when(
            field(fields, "Arrival-Date") or field(fields, "Received-Date") or None,
            when(message.get("Date"), received_at),
        ),
        recipient=recipient,
        message_id=about.message_id,
        return_paths=sent_from,
        detail=text(f"{feedback} report from {field(fields, 'User-Agent') or 'unknown agent'}"),
        raw={
            "report": headline(message),
            "feedback": {name: " ".join(str(value).split()) for name, value in fields.items()},
        },
    )
    return Reading([event])
