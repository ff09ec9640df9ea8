"""What DSNs and feedback reports share: finding the fields, the original message and its return path.

Mail servers write reports loosely: fields with comments, addresses with or without ``rfc822;`` and
angle brackets, the original attached as ``message/rfc822`` or only its headers as
``text/rfc822-headers``. These helpers read all of those with the stdlib email package (compat32
policy: it never raises on a malformed header) and never raise themselves.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parsedate_to_datetime

from outreach.events.model import angle

# The headers a bounce was delivered under: a VERP return path (bounces+CAMPAIGN.ROW.MAC@domain)
# names the message even when the reporting server leaves the recipient and the original out.
_RECEIVED_BY = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


@dataclass(frozen=True, slots=True)
class Original:
    """What the report tells of the message it is about."""

    message_id: str = ""
    recipient: str = ""
    return_path: str = ""


def field(block: Message, name: str) -> str:
    """A field's value as one line without the RFC 3464 type prefix: 'rfc822; a@b' -> 'a@b'."""
    value = block.get(name)
    if value is None:
        return ""
    flat = " ".join(str(value).split())
    kind, semicolon, rest = flat.partition(";")
    if semicolon and re.fullmatch(r"[A-Za-z0-9-]+", kind.strip()):
        flat = rest.strip()
    return flat


def address(value: str) -> str:
    """The bare address in '<a@b>', 'Name <a@b>', 'rfc822; a@b' (already stripped) or 'a@b'."""
    pairs = getaddresses([value])
    found = next((addr for _, addr in pairs if "@" in addr), "")
    return found.strip()


def return_paths(message: Message, *more: str) -> tuple[str, ...]:
    """Every address with a ``+`` extension the report was delivered to (Delivered-To,
    X-Original-To, To...) or names as the original's sender (``more``), in that order, at most 8:
    the candidates for a VERP return path, verified later with the site's keys."""
    found: list[str] = []
    values = [str(value) for name in _RECEIVED_BY for value in message.get_all(name) or []]
    for value in [*values, *more]:
        for _, addr in getaddresses([value]):
            if "+" in addr.partition("@")[0] and addr not in found:
                found.append(addr.strip())
    return tuple(found[:8])


def original(report: Message) -> Original:
    """The original message's Message-ID, To and Return-Path, from the attached message or headers."""
    for part in report.walk():
        kind = part.get_content_type()
        headers: Message | None = None
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                headers = payload[0]
        elif kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(part.get_payload())
            headers = HeaderParser().parsestr(text.lstrip())
        if headers is not None:
            return Original(
                message_id=angle(" ".join(str(headers.get("Message-ID", "")).split())),
                recipient=address(str(headers.get("To", ""))),
                return_path=address(str(headers.get("Return-Path", ""))),
            )
    return Original()


def when(value: str | None, fallback: datetime) -> datetime:
    """An RFC 5322 date as aware UTC, or ``fallback`` when missing or unreadable."""
    if not value:
        return fallback
    try:
        moment = parsedate_to_datetime(value)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError, OverflowError):  # 31 Dec 9999 -0100 overflows in UTC
        return fallback


def report_id(message: Message, raw: bytes) -> str:
    """The report's own Message-ID (hashed to fit), or the hash of its bytes when it has none."""
    own = " ".join(str(message.get("Message-ID", "")).split())
    return hashlib.sha256(own.encode() if own else raw).hexdigest()


def headline(message: Message) -> dict[str, str]:
    """The report's own From, To, Subject, Date and Message-ID, for the event's raw data."""
    return {
        name: " ".join(str(message.get(name, "")).split())
        for name in ("From", "To", "Subject", "Date", "Message-ID")
    }
