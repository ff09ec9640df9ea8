"""Signed identifiers in every mail: link tokens, Message-IDs and return paths.

Link tokens (unsubscribe, preferences) are signed with the site's current key (itsdangerous,
HMAC-SHA256) and bound to a purpose, so a preference token cannot unsubscribe and a forged or altered
one is refused. Every key the site still accepts verifies (see ``outreach.keys``), so links already
sent survive a rotation. Only the one canonical spelling of a token is accepted: base64 decoders let
several strings decode to the same bytes, and a token that verifies must be exactly the one we made.

The payload is an opaque subscriber reference (a database id), never an address or a name; an
unsubscribe token also names the campaign it came with, so the campaign's report can count it.

Message-IDs and VERP return paths carry a keyed MAC over (campaign, ledger row): a bounce or complaint
is believed only when it names a message we really sent to that recipient, and nobody can guess the
identifier of someone else's message from their own. Verifying needs no database lookup.

Two link tokens and one MAC are made per recipient of every campaign, so the signers are plain
``Signer``s built once per key, with their derived keys computed once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, Signer, URLSafeSerializer
from itsdangerous.encoding import base64_encode, want_bytes

from outreach.models import RecipientLinks

Keys = str | Sequence[str]


class Purpose(StrEnum):
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    CONFIRM = "confirm"


class TokenRefused(Exception):
    """The token was forged, altered, made for another purpose, or not written canonically."""


class _Signer(Signer):
    """itsdangerous's HMAC-SHA256 ``Signer``, its signatures unchanged (links already sent keep
    working), with the derived key kept instead of derived again for each of the two tokens that
    every recipient of every campaign gets; ``unsign`` is itsdangerous's own."""

    def __init__(self, secret: str, salt: str) -> None:
        super().__init__(secret, salt=salt, digest_method=hashlib.sha256)
        self._key = self.derive_key()

    def get_signature(self, value: str | bytes) -> bytes:
        return base64_encode(hmac.digest(self._key, want_bytes(value), "sha256"))


@functools.lru_cache(maxsize=32)
def _signer(secret: str, purpose: Purpose) -> _Signer:
    return _Signer(secret, salt=f"outreach.{purpose}")


def _keys(keys: Keys) -> Sequence[str]:
    return (keys,) if isinstance(keys, str) else keys


def make_token(secret: str, purpose: Purpose, subscriber: str) -> str:
    if not subscriber or "." in subscriber or not subscriber.isascii():
        raise ValueError("a token carries a plain subscriber reference such as a database id")
    return _signer(secret, purpose).sign(subscriber).decode("ascii")


def read_token(keys: Keys, purpose: Purpose, token: str) -> str:
    """The reference inside ``token`` if one of ``keys`` signed it for ``purpose``, exactly so."""
    for key in _keys(keys):
        signer = _signer(key, purpose)
        try:
            value = signer.unsign(token).decode("ascii")
        except (BadSignature, UnicodeError, ValueError):
            continue
        if signer.sign(value).decode("ascii") == token:
            return value
    raise TokenRefused(f"this {purpose} link is not valid")


def load_signed(keys: Keys, salt: str, token: str) -> Any:
    """The JSON value inside an itsdangerous ``URLSafeSerializer`` token (timed confirmation links,
    form fields, click redirects) that one of ``keys`` signed, written exactly as we write it."""
    for key in _keys(keys):
        serializer = URLSafeSerializer(key, salt=salt)
        try:
            value = serializer.loads(token)
        except (BadSignature, UnicodeError, ValueError):
            continue
        if serializer.dumps(value) == token:
            return value
    raise TokenRefused("this link is not valid")


@dataclass(frozen=True)
class LinkSubject:
    """Who a link is for, and the campaign whose mail carried it (None for other mails)."""

    subscriber_id: int
    campaign_id: int | None = None


def subject_ref(subscriber: str, campaign: int | None = None) -> str:
    """The payload of a link token: ``42``, or ``42-7`` when it came with campaign 7."""
    return subscriber if campaign is None else f"{subscriber}-{campaign}"


_REF = re.compile(r"(\d{1,18})(?:-(\d{1,18}))?")


def read_subject(keys: Keys, purpose: Purpose, token: str) -> LinkSubject | None:
    """The subscriber (and campaign) of a valid token; None for anything forged or malformed."""
    try:
        value = read_token(keys, purpose, token)
    except TokenRefused:
        return None
    match = _REF.fullmatch(value)
    if match is None:
        return None
    campaign = match.group(2)
    return LinkSubject(int(match.group(1)), int(campaign) if campaign else None)


def recipient_links(
    base_url: str,
    secret: str,
    subscriber: str,
    issue_slug: str,
    *,
    campaign: int | None = None,
    mailto: str = "",
    language: str = "",
) -> RecipientLinks:
    """The per-recipient URLs; ``base_url`` is the web service, ``mailto`` the site's unsubscribe
    mailbox (``[sender] unsubscribe_mailto``): its link carries the same signed token in the subject,
    so a mail to it can be honoured without trusting its From line. ``language`` names an edition
    other than the default, whose web copy is in that language's archive."""
    unsubscribe = make_token(secret, Purpose.UNSUBSCRIBE, subject_ref(subscriber, campaign))
    return RecipientLinks(
        unsubscribe=f"{base_url}/u/{unsubscribe}",
        preferences=f"{base_url}/p/{make_token(secret, Purpose.PREFERENCES, subscriber)}",
        view_online=f"{base_url}/{language}/archive/{issue_slug}"
        if language
        else f"{base_url}/archive/{issue_slug}",
        unsubscribe_mailto=f"mailto:{mailto}?subject={MAILTO_SUBJECT}{unsubscribe}" if mailto else "",
    )


# The subject a mail client writes when a reader uses the mailto unsubscribe: the prefix, then the token.
MAILTO_SUBJECT = "unsubscribe-"
_MAILTO_TOKEN = re.compile(re.escape(MAILTO_SUBJECT) + r"([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


def read_mailto_subject(keys: Keys, subject: str) -> LinkSubject | None:
    """The subscriber named by the token in the subject of a mail sent to the unsubscribe mailbox."""
    match = _MAILTO_TOKEN.search(subject)
    return read_subject(keys, Purpose.UNSUBSCRIBE, match.group(1)) if match else None


# --- Message-IDs and return paths ------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _mac_key(secret: str) -> bytes:
    return hashlib.sha256(b"outreach.message-mac\x00" + secret.encode("utf-8")).digest()


def message_mac(secret: str, campaign_id: int, delivery_id: int) -> str:
    """16 base32 characters (80 bits) binding a campaign and one of its ledger rows to the key."""
    digest = hmac.digest(_mac_key(secret), f"{campaign_id}.{delivery_id}".encode("ascii"), "sha256")
    # base64.b32encode(digest[:10]).lower(), without its pure-Python loop (one MAC per recipient)
    bits = int.from_bytes(digest[:10], "big")
    return "".join([_BASE32[(bits >> shift) & 31] for shift in _SHIFTS])


_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case
_SHIFTS = range(75, -5, -5)  # 80 bits, 5 at a time, most significant first


def message_id(secret: str, campaign_id: int, delivery_id: int, domain: str) -> str:
    """``<campaign.row.mac@domain>``: unique, on the sending domain, and unguessable."""
    return f"<{campaign_id}.{delivery_id}.{message_mac(secret, campaign_id, delivery_id)}@{domain}>"


_MESSAGE_ID = re.compile(r"<?\s*(\d{1,18})\.(\d{1,18})\.([a-z2-7]{16})@[^>\s]+\s*>?")


def read_message_id(keys: Keys, value: str) -> tuple[int, int] | None:
    """(campaign id, ledger row id) of a Message-ID we made; None for any other."""
    match = _MESSAGE_ID.fullmatch(value.strip())
    return _verified(keys, match)


def return_path(secret: str, bounce_address: str, campaign_id: int, delivery_id: int) -> str:
    """The VERP envelope sender ``local+campaign.row.mac@domain`` of one message."""
    local, _, domain = bounce_address.rpartition("@")
    mac = message_mac(secret, campaign_id, delivery_id)
    return f"{local}+{campaign_id}.{delivery_id}.{mac}@{domain}"


_RETURN_PATH = re.compile(r"<?\s*[^+@<\s]+\+(\d{1,18})\.(\d{1,18})\.([a-z2-7]{16})@[^>\s]+\s*>?")


def read_return_path(keys: Keys, address: str) -> tuple[int, int] | None:
    """(campaign id, ledger row id) of a VERP address we made; None for any other."""
    match = _RETURN_PATH.fullmatch(address.strip().lower())
    return _verified(keys, match)


def _verified(keys: Keys, match: re.Match[str] | None) -> tuple[int, int] | None:
    if match is None:
        return None
    campaign_id, delivery_id = int(match.group(1)), int(match.group(2))
    for key in _keys(keys):
        if hmac.compare_digest(message_mac(key, campaign_id, delivery_id), match.group(3)):
            return campaign_id, delivery_id
    return None
