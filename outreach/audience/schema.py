"""The audience tables, as typed SQLAlchemy 2 ORM classes.

One schema for SQLite and PostgreSQL. Migrations in ``migrations/versions`` create exactly these
tables; ``tests/audience/test_migrations.py`` checks that the two never drift apart.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only aliases the rowid for the exact type INTEGER; PostgreSQL gets a 64-bit key.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# JSONB on PostgreSQL (indexable, compact); JSON text on SQLite. Both answer ``col["key"]``.
JsonDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class SubscriberStatus(StrEnum):
    """Where a subscriber stands; only ``active`` may be mailed a newsletter.

    ``contact`` is someone written to once, from a list of contacts (``outreach send --recipients``):
    a row of their own so the ledger, suppression, unsubscribe links, events and erasure work for them
    as for anyone, but in no topic, segment or count of subscribers.
    """

    ACTIVE = "active"
    UNCONFIRMED = "unconfirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    ERASED = "erased"
    CONTACT = "contact"


# The statuses of someone who still hears from us (a newsletter or a one-off letter): an unsubscribe
# link or a suppression ends it for them.
STILL_WRITTEN_TO = (SubscriberStatus.ACTIVE, SubscriberStatus.UNCONFIRMED, SubscriberStatus.CONTACT)


class ConsentMethod(StrEnum):
    """How a consent change reached us."""

    FORM = "form"
    IMPORT = "import"
    ADMIN = "admin"
    ONE_CLICK = "one_click"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"


class ConsentAction(StrEnum):
    """What changed."""

    SUBSCRIBED = "subscribed"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    TOPIC_ADDED = "topic_added"
    TOPIC_REMOVED = "topic_removed"
    SUPPRESSED = "suppressed"
    UNSUPPRESSED = "unsuppressed"
    ERASED = "erased"
    # Written to once from a list of contacts; ``source`` holds why we may (the legitimate interest).
    CONTACTED = "contacted"


class SuppressionReason(StrEnum):
    """Why an address must never be mailed."""

    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    MANUAL = "manual"
    ERASED = "erased"


def _enum(kind: type[StrEnum], name: str) -> sa.Enum:
    # VARCHAR + CHECK on both databases: adding a value later is a plain migration.
    return sa.Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Subscriber(Base):
    """One person, known by one normalised address. Erasure blanks the row and keeps the hash."""

    __tablename__ = "subscribers"
    # The admin pages list people newest first, filtered by status and language (migration 0201), and
    # find them by the start of their address, names or organisation; PostgreSQL's pattern_ops make
    # ``LIKE 'ana%'`` indexable whatever the database's collation (see ``subscriber_search``).
    __table_args__ = (
        sa.Index("ix_subscribers_status_role_region", "status", "role", "region"),
        sa.Index("ix_subscribers_status_id", "status", "id"),
        sa.Index("ix_subscribers_language_id", "language", "id"),
        sa.Index("ix_subscribers_status_language_id", "status", "language", "id"),
        sa.Index("ix_subscribers_email_prefix", "email", postgresql_ops={"email": "varchar_pattern_ops"}),
        sa.Index(
            "ix_subscribers_first_name_lower",
            sa.func.lower(sa.text("first_name")).label("first_name_lower"),
            postgresql_ops={"first_name_lower": "text_pattern_ops"},
        ),
        sa.Index(
            "ix_subscribers_last_name_lower",
            sa.func.lower(sa.text("last_name")).label("last_name_lower"),
            postgresql_ops={"last_name_lower": "text_pattern_ops"},
        ),
        sa.Index(
            "ix_subscribers_organisation_lower",
            sa.func.lower(sa.text("organisation")).label("organisation_lower"),
            postgresql_ops={"organisation_lower": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str | None] = mapped_column(sa.String(320), unique=True)
    email_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    first_name: Mapped[str] = mapped_column(sa.String(200), default="")
    last_name: Mapped[str] = mapped_column(sa.String(200), default="")
    organisation: Mapped[str] = mapped_column(sa.String(300), default="")
    role: Mapped[str] = mapped_column(sa.String(100), default="")
    region: Mapped[str] = mapped_column(sa.String(100), default="")
    language: Mapped[str] = mapped_column(sa.String(20), default="en")
    time_zone: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[SubscriberStatus] = mapped_column(
        _enum(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.ACTIVE
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    signup_date: Mapped[date] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    tags: Mapped[list[SubscriberTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )
    topics: Mapped[list[SubscriberTopic]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


class SubscriberTag(Base):
    """A free label an admin puts on a subscriber (``board``, ``endorsed``, ``2026-conference``)."""

    __tablename__ = "subscriber_tags"
    __table_args__ = (sa.Index("ix_subscriber_tags_tag_subscriber_id", "tag", "subscriber_id"),)

    subscriber_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(sa.String(100), primary_key=True)


class Topic(Base):
    """A kind of mail people choose to receive; the list lives in ``lists/topics.yaml``."""

    __tablename__ = "topics"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")


class SubscriberTopic(Base):
    """Presence means the subscriber receives the topic; absence means they do not."""

    __tablename__ = "subscriber_topics"
    __table_args__ = (sa.Index("ix_subscriber_topics_topic_key_subscriber_id", "topic_key", "subscriber_id"),)

    subscriber_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    topic_key: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("topics.key"), primary_key=True)


class ConsentEvent(Base):
    """One change of consent: who, when, how, from which source, under which notice. Append-only."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    email_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    action: Mapped[ConsentAction] = mapped_column(_enum(ConsentAction, "consent_action"))
    # The topic keys the change concerns, space-separated ("monthly-newsletter trainings-events").
    topics: Mapped[str | None] = mapped_column(sa.Text)
    method: Mapped[ConsentMethod] = mapped_column(_enum(ConsentMethod, "consent_method"))
    source: Mapped[str] = mapped_column(sa.Text, default="")
    notice_version: Mapped[str] = mapped_column(sa.String(64), default="")
    actor: Mapped[str] = mapped_column(sa.String(200), default="")
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.Text)


class Suppression(Base):
    """An address hash that must never be mailed again, whatever any list or import says."""

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    # Kept so admins can read the list; blank after an erasure, when only the hash may remain.
    email: Mapped[str | None] = mapped_column(sa.String(320))
    reason: Mapped[SuppressionReason] = mapped_column(_enum(SuppressionReason, "suppression_reason"))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


metadata = Base.metadata
