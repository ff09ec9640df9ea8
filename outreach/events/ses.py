"""Amazon SES notifications, delivered by SNS over HTTPS, with the SNS message signature verified.

SNS signs each message with an RSA key whose certificate it publishes at ``SigningCertURL``; only
certificates from ``https://sns.<region>.amazonaws.com/`` are fetched (anything else could be a key the
sender made), and only topics on the allowlist are accepted when one is configured (any AWS account
can sign messages from its own topic). Signature version 1 is SHA1withRSA, version 2 SHA256withRSA.
A ``SubscriptionConfirmation`` is confirmed by fetching its ``SubscribeURL`` (from the same hosts).
The SES message itself may be an identity notification (``notificationType``) or an event published
through a configuration set (``eventType``); our ledger key travels as the message tag ``outreach_key``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from outreach.events.model import (
    BadSignature,
    Event,
    EventKind,
    MalformedEvent,
    Unauthenticated,
    angle,
    event_id,
    from_iso,
    listing,
    mapping,
    string,
    text,
)

PROVIDER = "ses"
_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_SIGNED_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SIGNED_SUBSCRIPTION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_MESSAGE_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")

CertFetcher = Callable[[str], bytes]
"""Given a SigningCertURL, the PEM certificate it serves (production: an HTTPS GET)."""
UrlVisitor = Callable[[str], None]
"""GETs a SubscribeURL, raising if the answer is not a success."""


def sns_url(url: str, what: str) -> str:
    """``url`` if it is an https URL on an SNS host, else BadSignature."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not _SNS_HOST.match(parts.hostname or "") or parts.port not in (None, 443):
        raise BadSignature(f"{what} must be an https://sns.<region>.amazonaws.com/ URL, not {url[:200]!r}")
    return url


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical ``Key\\nValue\\n`` text SNS signs, for the message's type."""
    keys = _SIGNED_NOTIFICATION if message.get("Type") == "Notification" else _SIGNED_SUBSCRIPTION
    lines = []
    for key in keys:
        if key in message and message[key] is not None:
            lines.append(f"{key}\n{message[key]}\n")
    return "".join(lines).encode("utf-8")


@dataclass
class SnsVerifier:
    """Verifies SNS messages; certificates are fetched once per URL and kept."""

    fetch_certificate: CertFetcher
    topic_arns: Collection[str] = ()
    _certificates: dict[str, rsa.RSAPublicKey] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _key(self, url: str, now: datetime) -> rsa.RSAPublicKey:
        with self._lock:
            cached = self._certificates.get(url)
        if cached is not None:
            return cached
        try:
            certificate = x509.load_pem_x509_certificate(self.fetch_certificate(url))
        except ValueError as err:
            raise BadSignature(f"the SNS signing certificate at {url} is not a PEM certificate") from err
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise BadSignature(f"the SNS signing certificate at {url} is not valid now")
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise BadSignature("the SNS signing certificate does not hold an RSA key")
        with self._lock:
            self._certificates[url] = key
        return key

    def verify(self, message: Mapping[str, Any], now: datetime) -> None:
        """Raise Unauthenticated, BadSignature or MalformedEvent unless SNS signed ``message``."""
        if string(message.get("Type")) not in _MESSAGE_TYPES:
            raise MalformedEvent(f"Type must be one of {', '.join(_MESSAGE_TYPES)}")
        signature, cert_url = string(message.get("Signature")), string(message.get("SigningCertURL"))
        if not signature or not cert_url:
            raise Unauthenticated("an SNS message carries Signature and SigningCertURL")
        version = string(message.get("SignatureVersion"))
        algorithm: hashes.HashAlgorithm
        if version == "1":
            algorithm = hashes.SHA1()  # SNS signature version 1 is defined as SHA1withRSA
        elif version == "2":
            algorithm = hashes.SHA256()
        else:
            raise BadSignature(f"unknown SNS SignatureVersion {version!r}")
        topic = string(message.get("TopicArn"))
        if self.topic_arns and topic not in self.topic_arns:
            raise BadSignature(f"topic {topic[:200]!r} is not one this server accepts")
        key = self._key(sns_url(cert_url, "SigningCertURL"), now)
        try:
            key.verify(
                base64.b64decode(signature, validate=True),
                string_to_sign(message),
                padding.PKCS1v15(),
                algorithm,
            )
        except (InvalidSignature, binascii.Error, ValueError) as err:
            raise BadSignature("the SNS signature does not verify") from err


def load(body: bytes) -> Mapping[str, Any]:
    """The SNS envelope (SNS posts JSON with Content-Type text/plain)."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise MalformedEvent("the body is not JSON") from err
    return mapping(value, "an SNS message")


def confirm_subscription(message: Mapping[str, Any], visit: UrlVisitor) -> str:
    """Confirm a (verified) SubscriptionConfirmation by visiting its SubscribeURL; returns the topic."""
    url = sns_url(string(message.get("SubscribeURL")), "SubscribeURL")
    visit(url)
    return string(message.get("TopicArn"))


def _tag(mail: Mapping[str, Any], name: str) -> str:
    tags = mail.get("tags")
    values = tags.get(name) if isinstance(tags, Mapping) else None
    return string(values[0]) if isinstance(values, list) and values else ""


def _message_id(mail: Mapping[str, Any]) -> str:
    common = mail.get("commonHeaders")
    if isinstance(common, Mapping) and string(common.get("messageId")):
        return angle(string(common.get("messageId")))
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, Mapping) and string(header.get("name")).lower() == "message-id":
            return angle(string(header.get("value")))
    return ""


def _recipients(
    kind_name: str, ses: Mapping[str, Any], mail: Mapping[str, Any]
) -> Iterator[tuple[EventKind, str, str, Mapping[str, Any]]]:
    """(kind, recipient, detail, section) for each recipient the notification is about."""
    if kind_name == "Bounce":
        bounce = mapping(ses.get("bounce"), "bounce")
        hard = string(bounce.get("bounceType")) == "Permanent"
        kind = EventKind.BOUNCED_HARD if hard else EventKind.BOUNCED_SOFT
        for item in listing(bounce.get("bouncedRecipients")):
            if isinstance(item, Mapping):
                said = " ".join(string(item.get(k)) for k in ("status", "diagnosticCode"))
                detail = text(f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')} {said}")
                yield kind, string(item.get("emailAddress")), detail, bounce
    elif kind_name == "Complaint":
        complaint = mapping(ses.get("complaint"), "complaint")
        feedback = string(complaint.get("complaintFeedbackType"))
        if feedback == "not-spam":
            return
        for item in listing(complaint.get("complainedRecipients")):
            if isinstance(item, Mapping):
                yield EventKind.COMPLAINED, string(item.get("emailAddress")), text(feedback), complaint
    elif kind_name == "Delivery":
        delivery = mapping(ses.get("delivery"), "delivery")
        for address in listing(delivery.get("recipients")):
            yield EventKind.DELIVERED, string(address), text(delivery.get("smtpResponse")), delivery
    elif kind_name == "Click":
        click = mapping(ses.get("click"), "click")
        for address in listing(mail.get("destination")):
            yield EventKind.CLICKED, string(address), text(click.get("link")), click
    elif kind_name == "Subscription":
        subscription = mapping(ses.get("subscription"), "subscription")
        preferences = subscription.get("newTopicPreferences")
        if isinstance(preferences, Mapping) and preferences.get("unsubscribeAll") is True:
            for address in listing(mail.get("destination")):
                yield EventKind.UNSUBSCRIBED, string(address), "unsubscribed from all topics", subscription


def parse(message: Mapping[str, Any]) -> list[Event]:
    """The events in a (verified) SNS Notification carrying an SES notification or event."""
    try:
        ses = mapping(json.loads(string(message.get("Message"))), "the SNS Message")
    except ValueError as err:
        raise MalformedEvent("the SNS Message is not a JSON SES notification") from err
    kind_name = string(ses.get("notificationType")) or string(ses.get("eventType"))
    mail = mapping(ses.get("mail", {}), "mail")
    events: list[Event] = []
    sns_id = string(message.get("MessageId"))
    for kind, recipient, detail, section in _recipients(kind_name, ses, mail):
        when = section.get("timestamp") or message.get("Timestamp")
        events.append(
            Event(
                kind=kind,
                provider=PROVIDER,
                provider_event_id=event_id(f"{sns_id}:{recipient}" if sns_id else "", ses, recipient),
                occurred_at=from_iso(when),
                recipient=recipient,
                message_id=_message_id(mail),
                provider_message_id=string(mail.get("messageId")),
                outreach_key=_tag(mail, "outreach_key"),
                detail=detail,
                raw=dict(ses),
            )
        )
    return events
