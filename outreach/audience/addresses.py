"""One person, one address: syntax checks and the normal form every comparison uses.

Policy (see docs/audience.md): surrounding whitespace is stripped; the syntax is checked by
email-validator without DNS; the domain is stored in its ASCII (IDNA) form and lower case; the local
part is lower-cased too, because in practice no mailbox VAIMH writes to distinguishes ``Ana`` from
``ana`` and treating them as two people would mail one person twice. So ``Ana@Example.org``,
``ana@example.ORG`` and `` ana@example.org `` are one subscriber.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from outreach.errors import AudienceError


class InvalidAddress(AudienceError):
    """An address that is not a syntactically valid email address; the message says why."""


# The common case, plain ASCII ``dot-atom@domain``, is checked here and its domain by email-validator
# once per distinct domain (imports of 100,000 rows share a few hundred domains). Anything else takes
# the full path. tests/audience/test_addresses.py checks that both paths agree.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE = re.compile(rf"^({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9.-]+)$")


@lru_cache(maxsize=4096)
def _domain(domain: str) -> str | None:
    try:
        checked = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return (checked.ascii_domain or checked.domain).lower()


def normalise_email(raw: str) -> str:
    """The normal form of ``raw``, or InvalidAddress with email-validator's reason."""
    text = raw.strip()
    if not text:
        raise InvalidAddress("the email address is empty")
    simple = _SIMPLE.match(text)
    if simple and len(simple.group(1)) <= 64 and len(text) <= 254:
        domain = _domain(simple.group(2))
        if domain is not None:
            return f"{simple.group(1).lower()}@{domain}"
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as err:
        raise InvalidAddress(f"{text!r} is not a valid email address: {err}") from None
    domain = (checked.ascii_domain or checked.domain).lower()
    return f"{checked.local_part.lower()}@{domain}"


def email_hash(normalised: str) -> str:
    """SHA-256 of the normal form: what the suppression list keeps after an erasure."""
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def hash_of(raw: str) -> str:
    """Normalise then hash; for looking an address up on the suppression list."""
    return email_hash(normalise_email(raw))
