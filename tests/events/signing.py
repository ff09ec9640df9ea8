"""Test-side signers: the providers' halves of each webhook's check, with keys made here.

SNS signs with an RSA key whose certificate is served at SigningCertURL; the tests make their own key
and self-signed certificate and hand the verifier a fetcher that serves it. SendGrid signs with an
ECDSA P-256 key, Mailgun with an HMAC key, Postmark with a basic-auth password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from outreach.events.ses import string_to_sign

PAYLOADS = Path(__file__).parent / "payloads"
MAIL = Path(__file__).parent / "mail"
NOW = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
CERT_URL = (
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
)
TOPIC = "arn:aws:sns:us-east-1:123456789012:vaimh-ses-events"
MAILGUN_KEY = "key-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
POSTMARK_USER = "postmark"
POSTMARK_PASSWORD = "correct horse battery staple"
BOUNCES = "bounces@vaimh.example"
DEFAULTS = {
    "__EMAIL__": "ana@example.org",
    "__KEY__": "17",
    "__MSGID__": "1.17.a1b2c3d4e5f6@vaimh.example",
    "__PROVIDER_ID__": "prov-17",
    "__VERP__": "bounces+1.17.abcdefghijklmnop@vaimh.example",
}


def payload_text(name: str, **values: str) -> str:
    """A captured payload with its placeholders (__EMAIL__, __KEY__, ...) filled in."""
    text = (PAYLOADS / name).read_text(encoding="utf-8")
    for token, default in DEFAULTS.items():
        text = text.replace(token, values.get(token.strip("_").lower(), default))
    return text


def payload(name: str, **values: str) -> Any:
    return json.loads(payload_text(name, **values))


def mail(name: str, **values: str) -> bytes:
    """A mail of the corpus (tests/events/mail) with its placeholders filled in, CRLF line ends."""
    text = (MAIL / name).read_text(encoding="utf-8")
    for token, default in DEFAULTS.items():
        text = text.replace(token, values.get(token.strip("_").lower(), default))
    return text.replace("\n", "\r\n").encode("utf-8")


class SnsSigner:
    """Amazon's side of SNS: a key, its certificate at CERT_URL, and messages signed with it."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM)
        self.fetched: list[str] = []
        self.visited: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem

    def visit(self, url: str) -> None:
        self.visited.append(url)

    def sign(
        self, message: dict[str, Any], version: str = "1", key: rsa.RSAPrivateKey | None = None
    ) -> dict[str, Any]:
        signed = {
            **message,
            "SignatureVersion": version,
            "SigningCertURL": message.get("SigningCertURL", CERT_URL),
        }
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = (key or self.key).sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)
        signed["Signature"] = base64.b64encode(signature).decode("ascii")
        return signed

    def notification(
        self,
        ses_notification: Any,
        message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        version: str = "1",
    ) -> dict[str, Any]:
        """An SNS Notification carrying ``ses_notification``, signed."""
        return self.sign(
            {
                "Type": "Notification",
                "MessageId": message_id,
                "TopicArn": TOPIC,
                "Message": json.dumps(ses_notification),
                "Timestamp": "2026-12-01T19:58:33.000Z",
                "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
            },
            version,
        )


class SendgridSigner:
    """SendGrid's side: an ECDSA P-256 key; ``public_key`` is what the dashboard shows (base64 DER)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode("ascii")

    def headers(self, body: bytes, timestamp: str = str(int(NOW.timestamp()))) -> dict[str, str]:
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            "Content-Type": "application/json",
        }


def mailgun_sign(
    document: dict[str, Any],
    at: datetime = NOW,
    key: str = MAILGUN_KEY,
    token: str = "5b8bd8c6f0f8a3a4e5bd4f6e2d1c0b9a8f7e6d5c4b3a2910ab",
) -> dict[str, Any]:
    timestamp = str(int(at.timestamp()))
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {**document, "signature": {"timestamp": timestamp, "token": token, "signature": signature}}


def basic_auth(user: str = POSTMARK_USER, password: str = POSTMARK_PASSWORD) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {encoded}", "Content-Type": "application/json"}
