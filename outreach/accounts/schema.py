"""The tables of the people who run the site: users, their sessions and API tokens, login attempts.

Subscribers are the audience's; these are staff. Passwords are kept only as Argon2id hashes, session
ids and API tokens only as SHA-256 digests (a copy of the database lets nobody log in), and a TOTP
secret only encrypted with a key derived from the site's secret.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from outreach.audience.schema import Base, BigId


class Role(StrEnum):
    """What a user may do; each role may do everything the one before it may."""

    VIEWER = "viewer"  # reads everything but personal data exports
    EDITOR = "editor"  # previews, checks, test copies, segments, topics, imports; never sends
    ADMIN = "admin"  # also sends, schedules, steers campaigns, suppressions, users, erasure

    @property
    def rank(self) -> int:
        return ROLE_ORDER.index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


ROLE_ORDER = (Role.VIEWER, Role.EDITOR, Role.ADMIN)


class User(Base):
    """A member of staff who signs in to the admin app (or is named by the CLI)."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    role: Mapped[Role] = mapped_column(sa.Enum(Role, native_enum=False, length=16))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    totp_secret: Mapped[str] = mapped_column(sa.Text, default="")  # encrypted; "" when not set up
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    # Sessions older than this are refused: changing a password signs out every other session.
    password_changed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class UserSession(Base):
    """One signed-in browser: found by the SHA-256 of its cookie, with its own CSRF secret."""

    __tablename__ = "admin_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("admin_users.id", ondelete="CASCADE"), index=True
    )
    csrf: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    # True once the second factor was given (or when the user has none): only then is it signed in.
    verified: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(300), default="")


class ApiToken(Base):
    """A personal token for /admin/api/, acting as its user with at most ``role``."""

    __tablename__ = "admin_api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("admin_users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[Role] = mapped_column(sa.Enum(Role, native_enum=False, length=16))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class LoginAttempt(Base):
    """A sign-in attempt, kept a day, so limits hold across processes: per account and per address."""

    __tablename__ = "admin_login_attempts"
    __table_args__ = (sa.Index("ix_admin_login_attempts_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    account: Mapped[str] = mapped_column(sa.String(64), index=True)  # SHA-256 of the address typed
    ip: Mapped[str] = mapped_column(sa.String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(sa.Boolean)
