"""Which secret keys this site's links are signed with, recorded by fingerprint in the database.

The database is the one thing every process of a site shares (the CLI, ``outreach serve``, workers
on other machines). A process whose key the database has never seen would sign links that every
other process refuses, so it is stopped before it sends or serves anything, with a message saying
how to use the site's key. Only fingerprints are stored, never keys.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from outreach.audience.db import transaction
from outreach.audience.schema import Base
from outreach.clock import Clock, SystemClock
from outreach.errors import ConfigError
from outreach.keys import ENV_KEY, ENV_PREVIOUS, KEY_FILE, SiteKeys, fingerprint


class SiteKey(Base):
    """A key this site has signed links with (its fingerprint), and when it was first used."""

    __tablename__ = "site_keys"

    fingerprint: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    first_used_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


def check_site_key(engine: Engine, keys: SiteKeys, clock: Clock | None = None) -> None:
    """Record the current key when the site has none yet, or when it follows a known key (a rotation);
    refuse a key unrelated to every key the site has used."""
    clock = clock or SystemClock()
    with transaction(engine) as session:
        known = set(session.scalars(sa.select(SiteKey.fingerprint)))
    if keys.fingerprint in known:
        return
    if known and not known.intersection(fingerprint(k) for k in keys.accepted):
        raise ConfigError(
            f"this site's links are signed with another secret key than the one from {keys.source}: "
            "every link in mail already sent would stop working. Use the site's key on every machine "
            f"(copy {KEY_FILE} from the machine that made it, or set {ENV_KEY} to it); to change keys, "
            f"keep the old one in {ENV_PREVIOUS} or run `outreach secret rotate`",
            key=ENV_KEY,
        )
    try:
        with transaction(engine) as session:
            session.add(SiteKey(fingerprint=keys.fingerprint, first_used_at=clock.now()))
    except IntegrityError:
        pass  # another process recorded it at the same moment
