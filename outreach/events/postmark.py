"""Postmark's webhooks: one JSON object per request, behind HTTP basic auth.

Postmark signs nothing; the webhook URL carries a user and password (``https://user:pass@host/...``)
that it sends as basic auth, and we compare them in constant time. ``RecordType`` says what the object
is: Bounce, SpamComplaint, Delivery, SubscriptionChange, Click (Open is outside our vocabulary).
``MessageID`` is the id the send was answered with; ``Metadata.outreach_key`` is our ledger key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any

from outreach.events.model import (
    BadSignature,
    Event,
    EventKind,
    MalformedEvent,
    Unauthenticated,
    event_id,
    from_iso,
    load_json,
    mapping,
    string,
    text,
)

PROVIDER = "postmark"

# Bounce ``Type`` values that are about the address. The rest (AutoResponder, Blocked, DMARCPolicy,
# SpamNotification, ChallengeVerification, ManuallyDeactivated, ...) say nothing certain about it.
_BOUNCE_TYPES = {
    "HardBounce": EventKind.BOUNCED_HARD,
    "BadEmailAddress": EventKind.BOUNCED_HARD,
    "SoftBounce": EventKind.BOUNCED_SOFT,
    "Transient": EventKind.BOUNCED_SOFT,
    "DnsError": EventKind.BOUNCED_SOFT,
    "SpamComplaint": EventKind.COMPLAINED,
    "Unsubscribe": EventKind.UNSUBSCRIBED,
}


def verify(user: str, password: str, authorization: str) -> None:
    """Raise Unauthenticated (no credentials) or BadSignature unless basic auth is ``user:password``."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthenticated("Postmark webhooks must use HTTP basic auth")
    try:
        given_user, colon, given_password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, ValueError, UnicodeDecodeError) as err:
        raise BadSignature("malformed basic auth credentials") from err
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    if not (colon and user_ok and password_ok):
        raise BadSignature("wrong Postmark webhook user or password")


def _kind(record: Mapping[str, Any]) -> EventKind | None:
    record_type = string(record.get("RecordType"))
    if record_type == "Bounce":
        return _BOUNCE_TYPES.get(string(record.get("Type")))
    if record_type == "SpamComplaint":
        return EventKind.COMPLAINED
    if record_type == "Delivery":
        return EventKind.DELIVERED
    if record_type == "Click":
        return EventKind.CLICKED
    if record_type == "SubscriptionChange":
        # Hard bounces and complaints arrive through their own webhooks; only a manual suppression
        # (the recipient's unsubscribe, or an admin in Postmark) is news. Reactivations are not
        # honoured: nobody is re-subscribed by a provider.
        suppressed = record.get("SuppressSending") is True
        manual = string(record.get("SuppressionReason")) == "ManualSuppression"
        return EventKind.UNSUBSCRIBED if suppressed and manual else None
    if record_type:
        return None  # Open, Inbound, ...
    raise MalformedEvent("a Postmark webhook body has a RecordType")


_TIME_FIELD = {
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Delivery": "DeliveredAt",
    "Click": "ReceivedAt",
    "SubscriptionChange": "ChangedAt",
}


def parse(body: bytes) -> list[Event]:
    """The event in an (authenticated) webhook body: one, or none for record types we do not track."""
    record = mapping(load_json(body, "the body"), "a Postmark webhook body")
    kind = _kind(record)
    if kind is None:
        return []
    record_type = string(record.get("RecordType"))
    metadata = record.get("Metadata")
    key = string(metadata.get("outreach_key")) if isinstance(metadata, Mapping) else ""
    recipient = string(record.get("Email")) or string(record.get("Recipient"))
    detail = (
        text(record.get("OriginalLink"))
        if kind is EventKind.CLICKED
        else text(" ".join(string(record.get(f)) for f in ("Type", "Description", "Details", "Origin")))
    )
    bounce_id = string(record.get("ID"))
    own_id = f"{record_type}:{bounce_id}" if bounce_id else ""
    return [
        Event(
            kind=kind,
            provider=PROVIDER,
            provider_event_id=event_id(own_id, record),
            occurred_at=from_iso(record.get(_TIME_FIELD[record_type])),
            recipient=recipient,
            provider_message_id=string(record.get("MessageID")),
            outreach_key=key,
            detail=detail,
            raw=dict(record),
        )
    ]
