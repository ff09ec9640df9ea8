"""Signed tokens for the links in every mail: unsubscribe, preferences.

Signed with ``OUTREACH_SECRET_KEY`` (itsdangerous, HMAC-SHA256) and bound to a purpose, so a preference
token cannot unsubscribe and a forged or altered one is refused. The payload is an opaque subscriber
reference (a database id), never an address or a name.
"""

from __future__ import annotations

from enum import StrEnum

from itsdangerous import BadSignature, URLSafeSerializer

from outreach.models import RecipientLinks


class Purpose(StrEnum):
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    CONFIRM = "confirm"


class TokenRefused(Exception):
    """The token was forged, altered, or made for another purpose."""


def make_token(secret: str, purpose: Purpose, subscriber: str) -> str:
    return str(URLSafeSerializer(secret, salt=f"outreach.{purpose}").dumps(subscriber))


def read_token(secret: str, purpose: Purpose, token: str) -> str:
    try:
        value = URLSafeSerializer(secret, salt=f"outreach.{purpose}").loads(token)
    except BadSignature as err:
        raise TokenRefused(f"this {purpose} link is not valid") from err
    return str(value)


def recipient_links(base_url: str, secret: str, subscriber: str, issue_slug: str) -> RecipientLinks:
    """The three per-recipient URLs; ``base_url`` is the web service from outreach.toml."""
    return RecipientLinks(
        unsubscribe=f"{base_url}/u/{make_token(secret, Purpose.UNSUBSCRIBE, subscriber)}",
        preferences=f"{base_url}/p/{make_token(secret, Purpose.PREFERENCES, subscriber)}",
        view_online=f"{base_url}/archive/{issue_slug}",
    )
