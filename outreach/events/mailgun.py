"""Mailgun's webhooks: one JSON object with ``signature`` and ``event-data``.

The signature is inside the body: hex HMAC-SHA256 of ``timestamp + token`` with the webhook signing
key. A timestamp older (or newer) than ``max_age`` seconds is refused, so a captured request cannot
be replayed later. ``failed`` with severity ``temporary`` means Mailgun will try again: a delay, not a
bounce. A permanent failure after Mailgun gave up retrying (reason ``old``) is a soft bounce.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from outreach.events.model import (
    BadSignature,
    Event,
    EventKind,
    MalformedEvent,
    Unauthenticated,
    angle,
    event_id,
    from_unix,
    mapping,
    string,
    text,
)

PROVIDER = "mailgun"
MAX_AGE = 900.0
"""Seconds a signed timestamp stays acceptable (clock skew plus Mailgun's own latency)."""

_PERMANENT = {
    "bounce": EventKind.BOUNCED_HARD,
    "suppress-bounce": EventKind.BOUNCED_HARD,
    "suppress-complaint": EventKind.COMPLAINED,
    "suppress-unsubscribe": EventKind.UNSUBSCRIBED,
    "old": EventKind.BOUNCED_SOFT,
}


def load(body: bytes) -> Mapping[str, Any]:
    """The body as a JSON object (it must be read before verifying: the signature is inside)."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise MalformedEvent("the body is not JSON") from err
    return mapping(value, "a Mailgun webhook body")


def verify(signing_key: str, document: Mapping[str, Any], now: datetime, max_age: float = MAX_AGE) -> None:
    """Raise Unauthenticated (no signature) or BadSignature unless Mailgun signed it recently."""
    signature = document.get("signature")
    if not isinstance(signature, Mapping):
        raise Unauthenticated("a Mailgun webhook body carries a signature object")
    timestamp, token, given = (string(signature.get(k)) for k in ("timestamp", "token", "signature"))
    if not (timestamp and token and given):
        raise Unauthenticated("the Mailgun signature needs timestamp, token and signature")
    if not (timestamp + token + given).isascii():  # Mailgun writes hex and digits; anything else is forged
        raise BadSignature("the Mailgun signature is not ASCII")
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise BadSignature("the Mailgun signature does not verify")
    try:
        age = abs(now.timestamp() - float(timestamp))
    except ValueError as err:
        raise BadSignature("the Mailgun signature timestamp is not a number") from err
    if not age <= max_age:
        raise BadSignature(f"the Mailgun signature is {age:.0f} s old; at most {max_age:.0f} s is accepted")


def _kind(data: Mapping[str, Any]) -> EventKind | None:
    name = string(data.get("event")).lower()
    if name == "delivered":
        return EventKind.DELIVERED
    if name == "failed":
        if string(data.get("severity")).lower() != "permanent":
            return None  # temporary: Mailgun retries; a delay is not a bounce
        # generic, espblock, ...: a failure we cannot pin on the address counts toward the soft limit.
        return _PERMANENT.get(string(data.get("reason")).lower(), EventKind.BOUNCED_SOFT)
    if name == "complained":
        return EventKind.COMPLAINED
    if name == "unsubscribed":
        return EventKind.UNSUBSCRIBED
    if name == "clicked":
        return EventKind.CLICKED
    return None  # accepted, opened, stored, ...


def _detail(data: Mapping[str, Any], kind: EventKind) -> str:
    if kind is EventKind.CLICKED:
        return text(data.get("url"))
    status = data.get("delivery-status")
    if not isinstance(status, Mapping):
        return text(data.get("reason"))
    parts = [string(status.get("code")), string(status.get("description")) or string(status.get("message"))]
    return text(" ".join(p for p in parts if p) or data.get("reason"))


def parse(document: Mapping[str, Any]) -> list[Event]:
    """The event in a (verified) body: one, or none for events we do not track."""
    data = mapping(document.get("event-data"), "event-data")
    kind = _kind(data)
    if kind is None:
        return []
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, Mapping) else None
    message_id = string(headers.get("message-id")) if isinstance(headers, Mapping) else ""
    variables = data.get("user-variables")
    key = string(variables.get("outreach_key")) if isinstance(variables, Mapping) else ""
    if "timestamp" not in data:
        raise MalformedEvent("event-data has no timestamp")
    return [
        Event(
            kind=kind,
            provider=PROVIDER,
            provider_event_id=event_id(string(data.get("id")), data),
            occurred_at=from_unix(data.get("timestamp")),
            recipient=string(data.get("recipient")),
            message_id=angle(message_id),
            provider_message_id=message_id.strip("<>"),
            outreach_key=key,
            detail=_detail(data, kind),
            raw=dict(data),
        )
    ]
