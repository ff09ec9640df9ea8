"""Signed values with an age, on the injected clock: confirmation links and the forms' CSRF field.

``outreach.tokens`` signs the links of every mail and they never expire; a confirmation link must
(a week), and a form's CSRF field must (a day), so these carry the time they were made. The payload
is JSON made of opaque ids, topic keys and that time: never an address or a name.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import URLSafeSerializer

from outreach.clock import Clock
from outreach.tokens import Keys, TokenRefused, load_signed

CONFIRM_SALT = "outreach.confirm.timed"
CSRF_SALT = "outreach.csrf"
CONFIRM_MAX_AGE = 7 * 24 * 3600
CSRF_MAX_AGE = 24 * 3600


class Refused(Exception):
    """Not signed by us, altered, made for another purpose, or too old (``expired``)."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def sign(secret: str, salt: str, payload: Any, clock: Clock) -> str:
    return str(URLSafeSerializer(secret, salt=salt).dumps([payload, int(clock.now().timestamp())]))


def verify(keys: Keys, salt: str, token: str, clock: Clock, max_age: int) -> Any:
    """The payload of a token one of the site's keys signed no longer than ``max_age`` seconds ago,
    written exactly as we write it (a decoder accepts other spellings of the same bytes)."""
    try:
        value = load_signed(keys, salt, token)
    except TokenRefused as err:
        raise Refused("this link is not valid") from err
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)):
        raise Refused("this link is not valid")
    age = clock.now().timestamp() - value[1]
    if age > max_age or age < -300:
        raise Refused("this link has expired", expired=True)
    return value[0]


def csrf_field(secret: str, subject: str, clock: Clock) -> str:
    """The hidden field of a form about ``subject`` ("signup", "preferences:12", ...)."""
    return sign(secret, CSRF_SALT, subject, clock)


def csrf_ok(keys: Keys, subject: str, token: str, clock: Clock) -> bool:
    """True if ``token`` is our field for this very form, made within the last day."""
    try:
        return bool(verify(keys, CSRF_SALT, token, clock, CSRF_MAX_AGE) == subject)
    except Refused:
        return False
