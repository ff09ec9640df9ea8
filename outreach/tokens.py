"""Signed tokens for the links in every mail: unsubscribe, preferences.

Signed with ``OUTREACH_SECRET_KEY`` (itsdangerous, HMAC-SHA256) and bound to a purpose, so a preference
token cannot unsubscribe and a forged or altered one is refused. The payload is an opaque subscriber
reference (a database id), never an address or a name. Two tokens are made per recipient of every
campaign, so the signer is a plain ``Signer`` (no JSON, no compression attempt) built once per key,
whose derived key is computed once too (itsdangerous derives it again for every signature).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from enum import StrEnum

from itsdangerous import BadSignature, Signer
from itsdangerous.encoding import base64_encode, want_bytes

from outreach.models import RecipientLinks


class Purpose(StrEnum):
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    CONFIRM = "confirm"


class TokenRefused(Exception):
    """The token was forged, altered, or made for another purpose."""


class _Signer(Signer):
    """itsdangerous's HMAC-SHA256 ``Signer``, its signatures unchanged (links already sent keep
    working), with the derived key kept instead of derived again for each of the two tokens that
    every recipient of every campaign gets; ``unsign`` is itsdangerous's own."""

    def __init__(self, secret: str, salt: str) -> None:
        super().__init__(secret, salt=salt, digest_method=hashlib.sha256)
        self._key = self.derive_key()

    def get_signature(self, value: str | bytes) -> bytes:
        return base64_encode(hmac.digest(self._key, want_bytes(value), "sha256"))


@functools.lru_cache(maxsize=16)
def _signer(secret: str, purpose: Purpose) -> Signer:
    return _Signer(secret, salt=f"outreach.{purpose}")


def make_token(secret: str, purpose: Purpose, subscriber: str) -> str:
    if not subscriber or "." in subscriber or not subscriber.isascii():
        raise ValueError("a token carries a plain subscriber reference such as a database id")
    return _signer(secret, purpose).sign(subscriber).decode("ascii")


def read_token(secret: str, purpose: Purpose, token: str) -> str:
    try:
        value = _signer(secret, purpose).unsign(token)
    except (BadSignature, UnicodeError) as err:
        raise TokenRefused(f"this {purpose} link is not valid") from err
    return value.decode("ascii")


def recipient_links(base_url: str, secret: str, subscriber: str, issue_slug: str) -> RecipientLinks:
    """The three per-recipient URLs; ``base_url`` is the web service from outreach.toml."""
    return RecipientLinks(
        unsubscribe=f"{base_url}/u/{make_token(secret, Purpose.UNSUBSCRIBE, subscriber)}",
        preferences=f"{base_url}/p/{make_token(secret, Purpose.PREFERENCES, subscriber)}",
        view_online=f"{base_url}/archive/{issue_slug}",
    )
