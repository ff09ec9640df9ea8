"""Signing in: password, then the second factor when the user has one; limits and audit included.

Every refusal looks the same whether the address is a user or not, and an unknown address costs the
same Argon2 work as a wrong password, so neither the answer nor its timing tells who has an account.
A session becomes usable only after the second factor (or at once for users without one); an admin
who must have a second factor (``[admin] require_2fa``) gets a session that can only set one up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from outreach.accounts import sessions, throttle, totp
from outreach.accounts.passwords import hash_password, needs_rehash, verify_password
from outreach.accounts.schema import Role, User
from outreach.accounts.users import find_user
from outreach.audience.audit import record
from outreach.clock import Clock
from outreach.errors import AccountError
from outreach.models import Actor


class Step(StrEnum):
    SIGNED_IN = "signed_in"
    NEEDS_CODE = "needs_code"  # the password was right; now the authenticator's code
    NEEDS_SETUP = "needs_setup"  # an admin without a second factor where one is required
    REFUSED = "refused"
    LOCKED = "locked"


@dataclass(frozen=True)
class SignIn:
    step: Step
    token: str = ""
    wait: timedelta | None = None


@dataclass(frozen=True)
class Policy:
    limits: throttle.Limits = field(default_factory=throttle.Limits)
    require_2fa_for_admins: bool = False


def sign_in(
    session: Session,
    email: str,
    password: str,
    clock: Clock,
    policy: Policy,
    *,
    ip: str = "",
    user_agent: str = "",
) -> SignIn:
    """Check the password (within the limits) and start a session at the right step."""
    wait = throttle.wait_before(session, email, ip, clock, policy.limits)
    if wait is not None:
        return SignIn(Step.LOCKED, wait=wait)
    user = find_user(session, email)
    ok = verify_password(user.password_hash if user else None, password)
    throttle.note(session, email, ip, ok, clock)
    if not ok or user is None:
        return SignIn(Step.REFUSED)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if user.totp_secret:
        return SignIn(
            Step.NEEDS_CODE,
            sessions.start(session, user, clock, verified=False, ip=ip, user_agent=user_agent),
        )
    if policy.require_2fa_for_admins and user.role is Role.ADMIN:
        return SignIn(
            Step.NEEDS_SETUP,
            sessions.start(session, user, clock, verified=False, ip=ip, user_agent=user_agent),
        )
    return _signed_in(session, user, clock, ip, user_agent)


def second_factor(
    session: Session,
    token: str,
    code: str,
    keys: Sequence[str],
    clock: Clock,
    policy: Policy,
    expiry: sessions.Expiry,
    *,
    ip: str = "",
    user_agent: str = "",
) -> SignIn:
    """Check the authenticator's code for a half-signed-in session; a new session on success."""
    found = sessions.current(session, token, clock, expiry)
    if found is None or found.verified or not found.user.totp_secret:
        return SignIn(Step.REFUSED)
    user = found.user
    wait = throttle.wait_before(session, user.email, ip, clock, policy.limits)
    if wait is not None:
        return SignIn(Step.LOCKED, wait=wait)
    secret = totp.unseal(user.totp_secret, keys)
    ok = secret is not None and totp.code_ok(secret, code, clock.now())
    throttle.note(session, user.email, ip, ok, clock)
    if not ok:
        return SignIn(Step.NEEDS_CODE, token)
    sessions.end(session, token)
    return _signed_in(session, user, clock, ip, user_agent)


def set_up_second_factor(
    session: Session, user: User, secret: str, code: str, key: str, actor: Actor, clock: Clock
) -> None:
    """Keep ``secret`` (sealed with the site's key) once a code from it proves the app has it."""
    if not totp.code_ok(secret, code, clock.now()):
        raise AccountError(
            "that code does not match: check the authenticator app's clock and try the next code"
        )
    user.totp_secret = totp.seal(secret, key)
    record(session, actor, "user.2fa.on", f"user {user.id}", clock)


def remove_second_factor(session: Session, user: User, actor: Actor, clock: Clock) -> None:
    user.totp_secret = ""
    record(session, actor, "user.2fa.off", f"user {user.id}", clock)


def _signed_in(session: Session, user: User, clock: Clock, ip: str, user_agent: str) -> SignIn:
    user.last_login_at = clock.now()
    record(session, Actor(user.email, "admin", ip), "user.sign_in", f"user {user.id}", clock)
    return SignIn(
        Step.SIGNED_IN, sessions.start(session, user, clock, verified=True, ip=ip, user_agent=user_agent)
    )
