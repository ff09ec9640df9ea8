"""The closed vocabulary of what comes back after a send, and the one shape every source is turned into.

Webhooks (SES, SendGrid, Postmark, Mailgun) and bounce mailboxes (RFC 3464 DSNs, RFC 5965 feedback
reports) each speak their own dialect; their parsers translate into ``Event`` and keep the provider's
own data in ``raw`` beside the normalised fields, as django-anymail does, so nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from outreach.errors import OutreachError

# Long ids (an SNS MessageId plus an address) are hashed to fit the column and the unique index.
MAX_EVENT_ID = 200


class EventKind(StrEnum):
    """What happened. Anything a provider reports outside this list (opens, deferrals) is dropped."""

    DELIVERED = "delivered"
    BOUNCED_HARD = "bounced_hard"
    BOUNCED_SOFT = "bounced_soft"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    CLICKED = "clicked"


@dataclass(frozen=True, slots=True)
class Event:
    """One normalised event about one recipient of one message.

    ``provider_event_id`` is unique per provider and stable across the provider's retries, so a
    replayed webhook or a re-read mailbox is recognised and changes nothing. The three message
    references are tried in order to find the ledger row: ``outreach_key`` (our ledger key, sent as
    metadata), ``message_id`` (our RFC 5322 Message-ID, with angle brackets) and
    ``provider_message_id`` (the id the provider answered the send with).
    """

    kind: EventKind
    provider: str
    provider_event_id: str
    occurred_at: datetime
    recipient: str = ""
    message_id: str = ""
    provider_message_id: str = ""
    outreach_key: str = ""
    detail: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


class EventError(OutreachError):
    """An event could not be accepted; the web layer turns subclasses into HTTP answers."""


class Unauthenticated(EventError):
    """No credentials or signature at all (HTTP 401)."""


class BadSignature(EventError):
    """A signature or password that does not verify, or a stale timestamp (HTTP 403)."""


class MalformedEvent(EventError):
    """A body that is not what the provider sends (HTTP 400); nothing of it is applied."""


class Unavailable(EventError):
    """Something the check needs (the SNS signing certificate) cannot be fetched now (HTTP 503: retry)."""


def stable_id(*parts: object) -> str:
    """A deterministic id for providers that give none: the SHA-256 of the parts as canonical JSON."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def event_id(provider_id: str, *fallback: object) -> str:
    """The provider's own id when it has one that fits, else ``stable_id`` of ``fallback``."""
    if provider_id and len(provider_id) <= MAX_EVENT_ID:
        return provider_id
    return stable_id(provider_id, *fallback)


def angle(message_id: str) -> str:
    """A Message-ID as the ledger stores it: ``<local@domain>``; '' stays ''."""
    bare = message_id.strip().strip("<>").strip()
    return f"<{bare}>" if bare else ""


def from_unix(value: object) -> datetime:
    """A Unix timestamp (int, float or numeric string) as an aware UTC datetime."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
        return datetime.fromtimestamp(seconds, UTC)
    except (TypeError, ValueError, OverflowError, OSError) as err:
        raise MalformedEvent(f"timestamp {value!r} is not a Unix time") from err


def from_iso(value: object) -> datetime:
    """An ISO 8601 timestamp ("2026-03-01T14:00:00.123Z", "...-04:00", 7 fractional digits) in UTC."""
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"timestamp {value!r} is not an ISO 8601 time")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # .NET (Postmark) writes 7 fractional digits; Python before 3.11's parser wants at most 6.
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise MalformedEvent(f"timestamp {value!r} is not an ISO 8601 time") from err
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def text(value: object, limit: int = 500) -> str:
    """A provider's free text as one bounded line (diagnostics can be pages of HTML)."""
    if value is None:
        return ""
    flat = " ".join(str(value).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def mapping(value: object, what: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else MalformedEvent naming ``what``."""
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"{what} must be a JSON object")
    return value


def string(value: object) -> str:
    """A JSON scalar as text ('' for null, objects and lists)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, Mapping | list):
        return ""
    return str(value)


def listing(value: object) -> list[Any]:
    """A JSON array as a list; anything else (null, a string, an object) as no items."""
    return value if isinstance(value, list) else []
