"""Signed tokens for the links in every mail: unsubscribe, preferences.

Signed with ``OUTREACH_SECRET_KEY`` (itsdangerous, HMAC-SHA256) and bound to a purpose, so a preference
token cannot unsubscribe and a forged or altered one is refused. The payload is an opaque subscriber
reference (a database id), never an address or a name. Two tokens are made per recipient of every
campaign, so the signer is a plain ``Signer`` (no JSON, no compression attempt) built once per key.
"""

from __future__ import annotations

import functools
import hashlib
from enum import StrEnum

from itsdangerous import BadSignature, Signer

from outreach.models import RecipientLinks


class Purpose(StrEnum):
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    CONFIRM = "confirm"


class TokenRefused(Exception):
    """The token was forged, altered, or made for another purpose."""


@functools.lru_cache(maxsize=16)
def _signer(secret: str, purpose: Purpose) -> Signer:
    return Signer(secret, salt=f"outreach.{purpose}", digest_method=hashlib.sha256)


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
