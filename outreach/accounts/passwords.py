"""Passwords: Argon2id hashes (argon2-cffi) and a policy people can meet.

The policy is length (at least 12 characters) and not guessable: zxcvbn estimates how quickly a
password falls to an attacker who tries common passwords, words, names, dates and keyboard patterns
first, and says why in words a person understands. A passphrase of ordinary words passes; "Password1!"
does not.
"""

from __future__ import annotations

from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

MIN_LENGTH = 12
MIN_SCORE = 3  # zxcvbn's 0-4: 3 is "safely unguessable: moderate protection from offline attacks"
MAX_LENGTH = 1024  # hashing a megabyte-long "password" is a denial of service, not a password

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters
# A hash to verify against when the account does not exist, so both cases take the same time.
_DUMMY = _hasher.hash("not a password of anyone: keeps the timing the same")


class WeakPassword(ValueError):
    """The password does not meet the policy; the message says what would."""


def check_policy(password: str, user_inputs: Sequence[str] = ()) -> None:
    """Refuse a short or guessable password; ``user_inputs`` (the address, the organisation) count
    as guessable too."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"use at least {MIN_LENGTH} characters (a few ordinary words make a good one)")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"use at most {MAX_LENGTH} characters")
    result = zxcvbn(password[:100], user_inputs=list(user_inputs))
    if result["score"] < MIN_SCORE:
        feedback = result["feedback"]
        reason = feedback.get("warning") or "it is too easy to guess"
        hint = " ".join(feedback.get("suggestions") or []) or "Add another word or two."
        raise WeakPassword(f"{reason.rstrip('.')}. {hint}".strip())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches; with no stored hash, as slow as a real check, then False."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether the hash was made with older parameters (rehash it at the next successful login)."""
    return _hasher.check_needs_rehash(stored)
