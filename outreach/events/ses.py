"""Amazon SES notifications, delivered by SNS over HTTPS, with the SNS message signature verified.

SNS signs each message with an RSA key whose certificate it publishes at ``SigningCertURL``. Any AWS
account can sign messages from its own topic, so only topics named in ``[events] ses_topic_arns`` are
accepted. Everything that costs nothing is checked before anything is fetched: the topic, the
certificate URL (``https://sns.<the topic's region>.amazonaws.com/SimpleNotificationService-<hex>.pem``
and nothing else: anything else could be a key the sender made), the ``SubscribeURL`` and the signed
``Timestamp`` (SNS stops retrying an HTTP/S delivery within an hour). Certificates are fetched once per
URL and kept, and at most ``NEW_CERTIFICATES_PER_HOUR`` new URLs are fetched, so posts with made-up
URLs cannot make this server fetch on their behalf. Signature version 1 is SHA1withRSA, version 2
SHA256withRSA. A ``SubscriptionConfirmation`` is confirmed by fetching its ``SubscribeURL``.
The SES message itself may be an identity notification (``notificationType``) or an event published
through a configuration set (``eventType``); our ledger key travels as the message tag ``outreach_key``.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
    Unavailable,
    angle,
    event_id,
    from_iso,
    listing,
    load_json,
    mapping,
    string,
    text,
)

PROVIDER = "ses"
MAX_AGE = 3600.0 + 300.0
"""Seconds a signed SNS Timestamp is accepted: SNS's retries of an HTTP/S delivery end within an hour
(a hard limit of its delivery policies), plus clock skew."""
MAX_AHEAD = 300.0
"""Seconds a Timestamp may lie in the future (clock skew)."""
NEW_CERTIFICATES_PER_HOUR = 4
"""New certificate URLs fetched per hour at most (SNS uses one per region and rarely changes it)."""

_TOPIC = re.compile(r"^arn:(aws(?:-[a-z]+)*):sns:([a-z0-9-]{1,40}):\d{12}:[A-Za-z0-9_.-]{1,256}$")
_CERT_PATH = re.compile(r"^/SimpleNotificationService-[0-9a-f]{32}\.pem$")
_SIGNED_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SIGNED_SUBSCRIPTION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_MESSAGE_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")

CertFetcher = Callable[[str], bytes]
"""Given a SigningCertURL, the PEM certificate it serves (production: an HTTPS GET)."""
UrlVisitor = Callable[[str], None]
"""GETs a SubscribeURL, raising if the answer is not a success."""


def sns_host(topic_arn: str) -> str:
    """The SNS host of the topic's region (``sns.us-east-1.amazonaws.com``), or BadSignature."""
    match = _TOPIC.match(topic_arn)
    if match is None:
        raise BadSignature(f"TopicArn {topic_arn[:200]!r} is not an SNS topic ARN")
    partition, region = match.groups()
    return f"sns.{region}.amazonaws.com" + (".cn" if partition == "aws-cn" else "")


def sns_url(url: str, host: str, what: str) -> str:
    """``url`` if it is a plain https URL on ``host``, else BadSignature."""
    parts = urlsplit(url)
    if (
        parts.scheme != "https"
        or parts.hostname != host
        or parts.port not in (None, 443)
        or parts.username is not None
        or parts.fragment
    ):
        raise BadSignature(f"{what} must be an https://{host}/ URL, not {url[:200]!r}")
    return url


def certificate_url(url: str, host: str) -> str:
    """The SigningCertURL if it is SNS's, on the topic's own host, else BadSignature."""
    sns_url(url, host, "SigningCertURL")
    if not _CERT_PATH.match(urlsplit(url).path) or urlsplit(url).query:
        raise BadSignature(f"SigningCertURL {url[:200]!r} is not an SNS signing certificate")
    return url


def subscribe_url(message: Mapping[str, Any], host: str) -> str:
    """The SubscribeURL if it confirms this very topic on its own host, else BadSignature."""
    url = sns_url(string(message.get("SubscribeURL")), host, "SubscribeURL")
    query = parse_qs(urlsplit(url).query)
    if query.get("Action") != ["ConfirmSubscription"] or query.get("TopicArn") != [
        string(message.get("TopicArn"))
    ]:
        raise BadSignature("SubscribeURL does not confirm a subscription to this message's topic")
    return url


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical ``Key\\nValue\\n`` text SNS signs, for the message's type."""
    keys = _SIGNED_NOTIFICATION if message.get("Type") == "Notification" else _SIGNED_SUBSCRIPTION
    lines = []
    for key in keys:
        if key in message and message[key] is not None:
            lines.append(f"{key}\n{message[key]}\n")
    return "".join(lines).encode("utf-8")


def _algorithm(message: Mapping[str, Any]) -> hashes.HashAlgorithm:
    version = string(message.get("SignatureVersion"))
    if version == "1":
        return hashes.SHA1()  # SNS signature version 1 is defined as SHA1withRSA
    if version == "2":
        return hashes.SHA256()
    raise BadSignature(f"unknown SNS SignatureVersion {version[:20]!r}")


@dataclass
class SnsVerifier:
    """Verifies SNS messages from the allowed topics; certificates are fetched once per URL and kept."""

    fetch_certificate: CertFetcher
    topic_arns: Collection[str]
    max_age: float = MAX_AGE
    new_certificates_per_hour: int = NEW_CERTIFICATES_PER_HOUR
    _certificates: dict[str, rsa.RSAPublicKey] = field(default_factory=dict, repr=False)
    _fetches: deque[float] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, message: Mapping[str, Any], now: datetime) -> str:
        """Everything that needs no network: type, signature fields, topic, URLs and Timestamp.
        Returns the certificate URL to verify the signature with."""
        if string(message.get("Type")) not in _MESSAGE_TYPES:
            raise MalformedEvent(f"Type must be one of {', '.join(_MESSAGE_TYPES)}")
        if not string(message.get("MessageId")):
            raise MalformedEvent("an SNS message has a MessageId")
        signature, cert_url = string(message.get("Signature")), string(message.get("SigningCertURL"))
        if not signature or not cert_url:
            raise Unauthenticated("an SNS message carries Signature and SigningCertURL")
        _algorithm(message)
        topic = string(message.get("TopicArn"))
        if topic not in self.topic_arns:
            raise BadSignature(
                f"topic {topic[:200]!r} is not one this server accepts ([events] ses_topic_arns)"
            )
        host = sns_host(topic)
        if message.get("Type") == "SubscriptionConfirmation":
            subscribe_url(message, host)
        age = now.timestamp() - from_iso(message.get("Timestamp")).timestamp()
        if not -MAX_AHEAD <= age <= self.max_age:
            raise BadSignature(
                f"the SNS Timestamp is {age:.0f} s old; at most {self.max_age:.0f} s is accepted"
            )
        return certificate_url(cert_url, host)

    def _budget(self, now: datetime) -> None:
        """Unavailable (SNS retries) once this hour's new certificate fetches are used up."""
        moment = now.timestamp()
        while self._fetches and self._fetches[0] <= moment - 3600:
            self._fetches.popleft()
        if len(self._fetches) >= self.new_certificates_per_hour:
            raise Unavailable("too many new SNS signing certificates were asked for this hour; retry later")
        self._fetches.append(moment)

    def _key(self, url: str, now: datetime) -> rsa.RSAPublicKey:
        with self._lock:
            cached = self._certificates.get(url)
            if cached is None:
                self._budget(now)
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
        """Raise Unauthenticated, BadSignature, MalformedEvent or Unavailable unless SNS signed
        ``message`` for an allowed topic within the last hour."""
        key = self._key(self.check(message, now), now)
        try:
            key.verify(
                base64.b64decode(string(message.get("Signature")), validate=True),
                string_to_sign(message),
                padding.PKCS1v15(),
                _algorithm(message),
            )
        except (InvalidSignature, binascii.Error, ValueError) as err:
            raise BadSignature("the SNS signature does not verify") from err


def load(body: bytes) -> Mapping[str, Any]:
    """The SNS envelope (SNS posts JSON with Content-Type text/plain)."""
    return mapping(load_json(body, "the body"), "an SNS message")


def confirm_subscription(message: Mapping[str, Any], visit: UrlVisitor) -> str:
    """Confirm a (verified) SubscriptionConfirmation by visiting its SubscribeURL; returns the topic."""
    topic = string(message.get("TopicArn"))
    visit(subscribe_url(message, sns_host(topic)))
    return topic


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
    inner = string(message.get("Message")).encode("utf-8", "surrogatepass")
    ses = mapping(load_json(inner, "the SNS Message"), "the SES notification in the SNS Message")
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
