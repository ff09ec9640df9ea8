"""SendGrid's Event Webhook: a signed JSON array of events.

SendGrid signs ``timestamp + body`` with ECDSA (P-256, SHA-256); the signature (base64 DER) and the
timestamp come in the ``X-Twilio-Email-Event-Webhook-Signature`` and ``...-Timestamp`` headers, and the
public key (base64 DER, as the dashboard shows it, or PEM) is configured. The timestamp must be recent
and a signature is accepted once (``replay``), so a captured request cannot be posted again. Custom
args are flattened into each event, so our ledger key arrives as ``outreach_key``.
``sg_message_id`` starts with the ``X-Message-Id`` the send was answered with (the ledger's provider
id), then ``.filter...``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from outreach.events.model import (
    BadSignature,
    Event,
    EventKind,
    MalformedEvent,
    Unauthenticated,
    angle,
    event_id,
    from_unix,
    load_json,
    mapping,
    string,
    text,
)
from outreach.events.replay import MAX_AGE, check_fresh

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

# ``dropped`` means SendGrid refused to send because of its own lists; these reasons are about the person.
_DROPPED = {
    "bounced address": EventKind.BOUNCED_HARD,
    "spam reporting address": EventKind.COMPLAINED,
    "unsubscribed address": EventKind.UNSUBSCRIBED,
}


def load_public_key(configured: str) -> ec.EllipticCurvePublicKey:
    """The verification key from the dashboard (base64 DER) or a PEM block."""
    try:
        if "BEGIN PUBLIC KEY" in configured:
            key = serialization.load_pem_public_key(configured.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(configured.split())))
    except (ValueError, binascii.Error, UnicodeEncodeError) as err:
        raise ValueError(f"not a SendGrid verification key: {err}") from err
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the SendGrid verification key must be an elliptic-curve (ECDSA) public key")
    return key


def verify(
    key: ec.EllipticCurvePublicKey,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    max_age: float = MAX_AGE,
) -> str:
    """Raise Unauthenticated (no signature) or BadSignature unless SendGrid signed ``body`` within
    ``max_age`` seconds of ``now``; returns the signature, the request's once-only token."""
    signature = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER) or ""
    timestamp = headers.get(TIMESTAMP_HEADER.lower()) or headers.get(TIMESTAMP_HEADER) or ""
    if not signature or not timestamp:
        raise Unauthenticated(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise BadSignature(f"{TIMESTAMP_HEADER} must be a Unix time in seconds")
    check_fresh(PROVIDER, float(timestamp), now, max_age)
    try:
        decoded = base64.b64decode(signature, validate=True)
        key.verify(decoded, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError) as err:
        raise BadSignature("the SendGrid signature does not verify") from err
    return signature


def _kind(item: Mapping[str, Any]) -> EventKind | None:
    name = string(item.get("event")).lower()
    if name == "delivered":
        return EventKind.DELIVERED
    if name == "bounce":
        blocked = string(item.get("type")).lower() == "blocked"
        transient = string(item.get("status")).startswith("4")
        return EventKind.BOUNCED_SOFT if blocked or transient else EventKind.BOUNCED_HARD
    if name == "dropped":
        return _DROPPED.get(string(item.get("reason")).lower())
    if name == "spamreport":
        return EventKind.COMPLAINED
    if name in ("unsubscribe", "group_unsubscribe"):
        return EventKind.UNSUBSCRIBED
    if name == "click":
        return EventKind.CLICKED
    return None  # processed, deferred (a delay is not a bounce), open, account events


def _detail(item: Mapping[str, Any], kind: EventKind) -> str:
    if kind is EventKind.CLICKED:
        return text(item.get("url"))
    parts = [string(item.get("status")), string(item.get("reason")) or string(item.get("response"))]
    classification = string(item.get("bounce_classification"))
    if classification:
        parts.append(f"({classification})")
    return text(" ".join(p for p in parts if p))


def parse(body: bytes) -> list[Event]:
    """The events in a (verified) webhook body; unknown event names are skipped, not errors."""
    items = load_json(body, "the body")
    if not isinstance(items, list):
        raise MalformedEvent("SendGrid posts a JSON array of events")
    events: list[Event] = []
    for position, value in enumerate(items):
        item = mapping(value, f"event {position}")
        kind = _kind(item)
        if kind is None:
            continue
        recipient = string(item.get("email"))
        if "timestamp" not in item:
            raise MalformedEvent(f"event {position} has no timestamp")
        events.append(
            Event(
                kind=kind,
                provider=PROVIDER,
                provider_event_id=event_id(string(item.get("sg_event_id")), item),
                occurred_at=from_unix(item.get("timestamp")),
                recipient=recipient,
                message_id=angle(string(item.get("smtp-id"))),
                provider_message_id=string(item.get("sg_message_id")).split(".", 1)[0],
                outreach_key=string(item.get("outreach_key")),
                detail=_detail(item, kind),
                raw=dict(item),
            )
        )
    return events
