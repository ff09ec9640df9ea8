"""Times: stored as aware UTC on both databases, shown in the configured zone with the zone named.

The database half runs on SQLite and (when asked) PostgreSQL: a time written in any zone, by the ORM
or by a bulk write, comes back as the same instant in UTC; SQLite holds one text form for all of them,
and migration 0102 brings rows written the old way into line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from outreach.audience import (
    Consent,
    ConsentMethod,
    add_subscriber,
    email_hash,
    export_person,
    history,
    transaction,
)
from outreach.audience.db import _alembic_config, make_engine, upgrade
from outreach.audience.topics import TopicDefinition
from outreach.clock import FixedClock, iso_time, show_time, utc
from outreach.scheduling.lease import Lease
from tests.audience.helpers import run_import, write

NY = ZoneInfo("America/New_York")
# 09:00 in New York on a winter day: 14:00 UTC.
NINE_IN_NEW_YORK = datetime(2026, 12, 1, 9, 0, tzinfo=NY)


class NewYorkClock:
    """A clock that answers in New York time (aware, not UTC): what any caller might hand in."""

    def now(self) -> datetime:
        return NINE_IN_NEW_YORK


def test_a_time_is_shown_in_the_configured_zone_with_its_name() -> None:
    moment = datetime(2026, 12, 1, 14, 0, 5, tzinfo=UTC)
    assert show_time(moment, NY) == "2026-12-01 09:00 EST"
    assert show_time(moment, NY, seconds=True) == "2026-12-01 09:00:05 EST"
    assert show_time(datetime(2026, 7, 1, 13, 0, tzinfo=UTC), NY) == "2026-07-01 09:00 EDT"
    assert show_time(moment, ZoneInfo("Europe/Paris")) == "2026-12-01 15:00 CET"
    assert show_time(moment, UTC) == "2026-12-01 14:00 UTC"
    # A zone with no letters of its own is named by its key.
    assert show_time(moment, ZoneInfo("America/Sao_Paulo")) == "2026-12-01 11:00 America/Sao_Paulo (UTC-03)"
    assert show_time(datetime(2026, 12, 1, 14, 0), NY) == "2026-12-01 09:00 EST", "naive is stored UTC"
    assert iso_time(moment, NY) == "2026-12-01T09:00:05-05:00"
    assert utc(NINE_IN_NEW_YORK) == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    assert utc(NINE_IN_NEW_YORK).tzinfo is UTC


def test_a_time_from_any_zone_comes_back_as_the_same_instant_in_utc(engine: Engine) -> None:
    lease = Lease(engine, NewYorkClock(), seconds=60, holder="me")  # type: ignore[arg-type]
    assert lease.acquire()
    state = lease.current()
    assert state is not None
    assert state.expires_at == NINE_IN_NEW_YORK + timedelta(seconds=60)
    assert state.expires_at.tzinfo is UTC and state.expires_at.hour == 14


def test_the_consent_log_holds_one_kind_of_time_however_it_was_written(
    engine: Engine, topics: tuple[TopicDefinition, ...], tmp_path: Path
) -> None:
    clock = FixedClock(datetime(2026, 12, 1, 14, 0, tzinfo=UTC))
    sheet = write(tmp_path / "members.csv", "email,first_name\nana@example.org,Ana\n")
    run_import(engine, sheet, topics, clock, consent="Spring conference sign-up sheet, 2026-03")
    clock.advance(60)
    with transaction(engine) as session:
        add_subscriber(
            session, "ben@example.org", consent=Consent(ConsentMethod.ADMIN, source="desk"), clock=clock
        )
    with transaction(engine) as session:
        imported = export_person(session, "ana@example.org")
        added = export_person(session, "ben@example.org")
        stamps = [e.at for e in history(session, email_hash("ana@example.org"))]
    assert stamps and all(s.tzinfo is UTC for s in stamps)
    shown = [e["at"] for e in imported["consent_log"] + added["consent_log"]]
    assert shown == ["2026-12-01T14:00:00+00:00", "2026-12-01T14:01:00+00:00"]
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            raw = set(connection.scalars(sa.text("SELECT at FROM consent_events")))
            raw |= set(connection.scalars(sa.text("SELECT created_at FROM subscribers")))
        assert raw == {"2026-12-01 14:00:00.000000", "2026-12-01 14:01:00.000000"}


def test_migration_0102_rewrites_sqlite_times_stored_with_an_offset(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        config = _alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO scheduler_leases VALUES "
            "('a', 'x', '2026-12-01 09:00:00.250000-05:00', '2026-12-01 14:00:00+00:00'), "
            "('b', 'y', '2026-12-01 14:00:00.000000', '2026-12-01 14:00:00.123456')"
        )
    upgrade(engine)
    with engine.connect() as connection:
        raw = connection.exec_driver_sql(
            "SELECT name, acquired_at, expires_at FROM scheduler_leases ORDER BY name"
        ).all()
    assert [tuple(r) for r in raw] == [
        ("a", "2026-12-01 14:00:00.250000", "2026-12-01 14:00:00.000000"),
        ("b", "2026-12-01 14:00:00.000000", "2026-12-01 14:00:00.123456"),
    ]
    engine.dispose()
