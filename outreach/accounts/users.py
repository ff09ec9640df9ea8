"""Staff accounts: add, list, change role, reset password, remove; every change audited.

The command line (``outreach users ...``) and the admin app call these same functions. There is
always at least one admin: the last one can be neither removed nor demoted, so nobody locks the site
out of its own users page.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.accounts.passwords import WeakPassword, check_policy, hash_password
from outreach.accounts.schema import ApiToken, Role, User, UserSession
from outreach.audience.addresses import InvalidAddress, normalise_email
from outreach.audience.audit import record
from outreach.clock import Clock
from outreach.errors import AccountError
from outreach.models import Actor


def find_user(session: Session, email: str) -> User | None:
    try:
        address = normalise_email(email)
    except InvalidAddress:
        return None
    return session.scalars(sa.select(User).where(User.email == address)).first()


def get_user(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise AccountError(f"no user {email!r}; `outreach users list` shows them")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(sa.select(User).order_by(User.role.desc(), User.email)))


def _password(password: str, email: str) -> str:
    try:
        check_policy(password, user_inputs=[email, *email.split("@")])
    except WeakPassword as err:
        raise AccountError(f"that password is too weak: {err}") from None
    return hash_password(password)


def add_user(session: Session, email: str, role: Role, password: str, actor: Actor, clock: Clock) -> User:
    """A new user; the password must meet the policy (``outreach.accounts.passwords``)."""
    try:
        address = normalise_email(email)
    except InvalidAddress as err:
        raise AccountError(f"{email!r} is not an email address: {err}") from None
    if find_user(session, address) is not None:
        raise AccountError(f"{address} is already a user; `outreach users set-role` changes the role")
    now = clock.now()
    user = User(
        email=address,
        role=role,
        password_hash=_password(password, address),
        totp_secret="",
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    record(session, actor, "user.add", f"user {user.id}", clock, {"email": address, "role": str(role)})
    return user


def set_role(session: Session, email: str, role: Role, actor: Actor, clock: Clock) -> User:
    user = get_user(session, email)
    if user.role is Role.ADMIN and role is not Role.ADMIN:
        _not_the_last_admin(session, user, "demote")
    before = user.role
    user.role = role
    # A narrower role takes effect at once: tokens with more than the new role lose it.
    for token in session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)):
        if not role.allows(token.role):
            token.role = role
    record(session, actor, "user.role", f"user {user.id}", clock, {"from": str(before), "to": str(role)})
    return user


def reset_password(session: Session, email: str, password: str, actor: Actor, clock: Clock) -> User:
    """A new password; every session of the user ends (whoever had the old one is signed out)."""
    user = get_user(session, email)
    user.password_hash = _password(password, user.email)
    user.password_changed_at = clock.now()
    session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))
    record(session, actor, "user.password", f"user {user.id}", clock)
    return user


def remove_user(session: Session, email: str, actor: Actor, clock: Clock) -> None:
    user = get_user(session, email)
    if user.role is Role.ADMIN:
        _not_the_last_admin(session, user, "remove")
    record(session, actor, "user.remove", f"user {user.id}", clock, {"email": user.email})
    session.delete(user)


def _not_the_last_admin(session: Session, user: User, verb: str) -> None:
    admins = session.scalar(sa.select(sa.func.count()).where(User.role == Role.ADMIN)) or 0
    if admins <= 1:
        raise AccountError(f"{user.email} is the only admin; make another user admin before you {verb} them")
