"""Personal API tokens for /admin/api/: shown once, stored as a SHA-256 digest, scoped to a role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.accounts.schema import ApiToken, Role, User
from outreach.audience.audit import record
from outreach.clock import Clock
from outreach.errors import AccountError
from outreach.models import Actor

PREFIX = "otk_"  # recognisable in a leaked file or a secret scanner


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session, user: User, name: str, role: Role, actor: Actor, clock: Clock
) -> tuple[ApiToken, str]:
    """A new token acting as ``user`` with at most ``role``; the plain token is returned only here."""
    if not user.role.allows(role):
        raise AccountError(
            f"{user.email} is {user.role}: a token cannot do more than its user ({role} asked)"
        )
    plain = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip()[:100] or "token",
        digest=_digest(plain),
        role=role,
        created_at=clock.now(),
    )
    session.add(token)
    session.flush()
    record(session, actor, "token.create", f"user {user.id}", clock, {"token": token.id, "role": str(role)})
    return token, plain


@dataclass(frozen=True)
class TokenUser:
    user: User
    role: Role  # the smaller of the token's and the user's


def authenticate(session: Session, plain: str, clock: Clock) -> TokenUser | None:
    if not plain.startswith(PREFIX) or len(plain) > 100:
        return None
    token = session.scalars(sa.select(ApiToken).where(ApiToken.digest == _digest(plain))).first()
    if token is None:
        return None
    user = session.get(User, token.user_id)
    if user is None:
        return None
    token.last_used_at = clock.now()
    role = token.role if user.role.allows(token.role) else user.role
    return TokenUser(user, role)


def revoke(session: Session, user: User, token_id: int, actor: Actor, clock: Clock) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise AccountError(f"no token {token_id} of {user.email}")
    session.delete(token)
    record(session, actor, "token.revoke", f"user {user.id}", clock, {"token": token_id})


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))
