"""The closed vocabulary of what comes back after a send, and the one shape every source is turned into.

Webhooks (SES, SendGrid, Postmark, Mailgun) and bounce mailboxes (RFC 3464 DSNs, RFC 5965 feedback
reports) each speak their own dialect; their parsers translate into ``Event`` and keep the provider's
own data in ``raw`` beside the normalised fields, as django-anymail does, so nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from outreach.errors import OutreachError

# Long ids (an SNS MessageId plus an address) are hashed to fit the column and the unique index.
MAX_EVENT_ID = 200
# Providers' documents are a few levels deep; anything deeper is not theirs (and costs recursion).
MAX_DEPTH = 32
# No provider sends integers longer than this; Python refuses to print ones over 4300 digits.
MAX_INT_DIGITS = 40
# NUL and lone surrogates: PostgreSQL refuses NUL in text and JSON, and no driver encodes a surrogate.
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


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
    ``provider_message_id`` (the id the provider answered the send with). ``return_paths`` are the
    addresses a mailed report was returned to (a VERP return path names the message with a MAC).
    """

    kind: EventKind
    provider: str
    provider_event_id: str
    occurred_at: datetime
    recipient: str = ""
    message_id: str = ""
    provider_message_id: str = ""
    outreach_key: str = ""
    return_paths: tuple[str, ...] = ()
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
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as err:  # 0001-01-01T00:00+01:00 overflows in UTC
        raise MalformedEvent(f"timestamp {value!r} is not an ISO 8601 time") from err


def text(value: object, limit: int = 500) -> str:
    """A provider's free text as one bounded line (diagnostics can be pages of HTML)."""
    if value is None:
        return ""
    flat = " ".join(clean(str(value)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def clean(value: str) -> str:
    """``value`` without NUL, lone surrogates as U+FFFD: what every database can store.

    Mail headers with 8-bit bytes are read with surrogate escapes; a report carrying one must be
    recorded, not turned into a database error that stops every later run."""
    return _UNSAFE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)


def clean_document(value: Any, depth: int = 0) -> Any:
    """A JSON-like value with every string ``clean``ed and non-finite numbers as null (for ``raw``)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, Mapping):
        return {clean(str(k)): clean_document(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_document(v, depth + 1) for v in value]
    return value


def _no_constant(name: str) -> Any:
    raise MalformedEvent(f"the body holds {name}, which JSON does not allow")


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedEvent(f"the body holds an integer of more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _number(digits: str) -> float:
    number = float(digits)
    if not math.isfinite(number) or len(digits) > 100:
        raise MalformedEvent(f"the body holds a number out of range ({digits[:40]})")
    return number


def load_json(body: bytes, what: str) -> Any:
    """``body`` as strict JSON, or MalformedEvent (HTTP 400): no NaN or Infinity, no NUL or lone
    surrogate in any string, integers and nesting of a sensible size. Anything else a provider
    never sends, and some of it (NaN, NUL) a database refuses to store."""
    try:
        value = json.loads(body, parse_constant=_no_constant, parse_int=_integer, parse_float=_number)
    except RecursionError as err:
        raise MalformedEvent(f"{what} is nested more than {MAX_DEPTH} levels deep") from err
    except (ValueError, UnicodeDecodeError) as err:
        raise MalformedEvent(f"{what} is not JSON") from err
    _check_document(value, what)
    return value


def _check_document(value: Any, what: str) -> None:
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise MalformedEvent(f"{what} is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, str):
            if _UNSAFE.search(item):
                raise MalformedEvent(f"{what} holds a NUL character or a lone surrogate")
        elif isinstance(item, dict):
            pending.extend((key, depth + 1) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)


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
