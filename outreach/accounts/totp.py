"""The optional second factor: TOTP codes (RFC 6238, pyotp) from an authenticator app.

The shared secret is stored encrypted with a key derived from the site's secret (Fernet), so a copy of
the database alone does not give anyone the codes; every key the site accepts can decrypt, so a key
rotation does not lock staff out.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken

ISSUER = "outreach"


def new_secret() -> str:
    return pyotp.random_base32()


def _fernet(key: str) -> Fernet:
    derived = hashlib.sha256(b"outreach.totp\x00" + key.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret: str, key: str) -> str:
    return _fernet(key).encrypt(secret.encode("ascii")).decode("ascii")


def unseal(sealed: str, keys: Sequence[str]) -> str | None:
    for key in keys:
        try:
            return _fernet(key).decrypt(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError):
            continue
    return None


def code_ok(secret: str, code: str, at: datetime) -> bool:
    """A 6-digit code for the moment ``at``, or 30 s either side (phones' clocks drift)."""
    digits = "".join(code.split())
    return (
        digits.isdigit()
        and len(digits) == 6
        and pyotp.TOTP(secret).verify(digits, for_time=at, valid_window=1)
    )


def provisioning_uri(secret: str, account: str, site: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=f"{ISSUER} ({site})")


def qr_svg(uri: str, title: str) -> str:
    """The URI as an inline SVG QR code with a title (no network, no image files)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, title=title, border=2)
    return svg
