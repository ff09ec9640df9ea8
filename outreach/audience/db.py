"""Engines, sessions and the schema version: the only place that knows how to reach the database.

``make_engine`` turns a URL into an engine (SQLite gets foreign keys, WAL and a busy timeout: a
database another process holds locked is waited for, then refused with a ``DatabaseError`` that says
so; every engine stores and returns times as aware UTC, see ``_times_in_utc``; a URL's password never
appears in a message), ``upgrade`` runs the Alembic migrations shipped inside this package, and
``check_schema_current`` refuses to work on a database whose schema is behind the code, with a
message that says what to run.
"""

from __future__ import annotations

import re
import sqlite3
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from outreach.clock import utc
from outreach.errors import DatabaseError

# The migrations cover every stage's tables (audience and delivery), so they live beside the stages.
MIGRATIONS = Path(__file__).parent.parent / "migrations"
BEHIND = "the database schema is behind; run `outreach db upgrade`"
# How long a SQLite statement waits for another process's write lock before giving up (seconds).
BUSY_TIMEOUT = 15.0
_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)[^@\s]*@")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 8 MB of page cache per connection keeps a sending process small; imports raise it for their
    # own connection (``bulk_cache``) because they update several B-tree indexes in random order.
    cursor.execute("PRAGMA cache_size=-8192")
    cursor.close()


def make_engine(url: str, *, busy_timeout: float | None = None, **options: Any) -> Engine:
    """An engine for ``url``; on SQLite, foreign keys are enforced, the journal is WAL and a locked
    database is waited for ``busy_timeout`` seconds (``BUSY_TIMEOUT``), then refused with a
    ``DatabaseError``."""
    busy_timeout = BUSY_TIMEOUT if busy_timeout is None else busy_timeout
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": busy_timeout, **options.get("connect_args", {})}
    try:
        engine = sa.create_engine(url, **options)
    except (sa.exc.ArgumentError, ImportError, ValueError) as err:
        shown = redact_url(url)
        detail = str(err).replace(url, shown)
        raise DatabaseError(f"cannot use database URL {shown!r}: {redact_url(detail)}") from err
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "handle_error", _locked(engine, busy_timeout))
    _times_in_utc(engine)
    return engine


def redact_url(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` in it replaced by ``***``."""
    return _PASSWORD.sub(lambda found: f"{found['head']}***@", text)


def _locked(engine: Engine, waited: float) -> Callable[[sa.engine.ExceptionContext], None]:
    """Turns SQLite's "database is locked" (after the busy timeout) into one plain DatabaseError."""
    where = engine.url.database or "the database"

    def handle(context: sa.engine.ExceptionContext) -> None:
        original = context.original_exception
        if isinstance(original, sqlite3.OperationalError) and "locked" in str(original):
            raise DatabaseError(
                f"the database {where} is locked by another process (waited {waited:g} s); "
                "try again in a moment, and if it stays locked, look for a stuck outreach process"
            ) from original

    return handle


def _times_in_utc(engine: Engine) -> None:
    """Every ``DateTime(timezone=True)`` column crosses this engine as an aware UTC datetime.

    SQLite has no time zones: SQLAlchemy writes the wall clock of whatever it is given (an aware
    New York time would be stored as if it were UTC) and reads naive datetimes back; PostgreSQL
    answers in the session's zone, which is the server's unless set. So, in this one place, the
    engine's own datetime type is swapped for one that turns every value into UTC on the way in and
    marks it UTC on the way out. (``type_descriptor`` reads ``colspecs`` from the dialect instance.)
    """
    dialect = engine.dialect
    own = dialect.colspecs.get(sa.DateTime, sa.DateTime)
    dialect.colspecs = {**dialect.colspecs, sa.DateTime: _utc_type(own)}  # type: ignore[misc]


_UTC_TYPES: dict[type[Any], type[Any]] = {}


def _utc_type(own: type[Any]) -> type[Any]:
    """The dialect's datetime type (``own``) with UTC conversion around its own processing."""
    if own in _UTC_TYPES:
        return _UTC_TYPES[own]

    class UtcDateTime(own):  # type: ignore[valid-type,misc]
        def bind_processor(self, dialect: sa.Dialect) -> Callable[[Any], Any] | None:
            inner: Callable[[Any], Any] | None = super().bind_processor(dialect)
            if not self.timezone:
                return inner

            def process(value: Any) -> Any:
                if isinstance(value, datetime):
                    value = utc(value)
                return inner(value) if inner else value

            return process

        def result_processor(self, dialect: sa.Dialect, coltype: object) -> Callable[[Any], Any] | None:
            inner: Callable[[Any], Any] | None = super().result_processor(dialect, coltype)
            if not self.timezone:
                return inner

            def process(value: Any) -> Any:
                value = inner(value) if inner else value
                return utc(value) if isinstance(value, datetime) else value

            return process

    _UTC_TYPES[own] = UtcDateTime
    return UtcDateTime


def bulk_cache(session: Session) -> None:
    """64 MB of SQLite page cache for this session's connection, for bulk writes (no-op elsewhere)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA cache_size=-65536")


_SESSIONS: weakref.WeakKeyDictionary[Engine, sessionmaker[Session]] = weakref.WeakKeyDictionary()


def execute_many(
    connection: sa.Connection, statement: sa.Executable, rows: Sequence[Mapping[str, Any]]
) -> int:
    """``connection.execute(statement, rows)``, on SQLite through the driver's own executemany.

    The SQL is the one SQLAlchemy compiles for SQLite and every value goes through its type's bind
    processor, as SQLAlchemy would do; what is skipped is its per-row bookkeeping, which costs more
    than SQLite's own work for the short rows of imports and of the delivery ledger. A parameter a
    row leaves out takes the statement's own value (e.g. a literal compared in WHERE). Other
    databases take the Core path. Returns how many rows changed."""
    if not rows:
        return 0
    sqlite = connection.dialect.name == "sqlite"
    direct = _compiled_for_sqlite(statement, connection.dialect) if sqlite else None
    if direct is None:
        result = connection.execute(statement, list(rows))
        return int(getattr(result, "rowcount", 0) or 0)
    sql, plan = direct
    return int(connection.exec_driver_sql(sql, _processed(plan, rows)).rowcount)


def _processed(plan: list[_Bind], rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Each row's values through their bind processors; a value that is the very object the row
    before had in that place is not processed again (the ledger gives every row of a chunk the same
    ``now``, and SQLite's date formatting costs microseconds a row)."""
    last: list[Any] = [_UNSEEN] * len(plan)
    made: list[Any] = [None] * len(plan)
    values = []
    for row in rows:
        for place, (name, fixed, process) in enumerate(plan):
            value = row.get(name, fixed)
            if value is not last[place]:
                last[place] = value
                made[place] = process(value)
        values.append(tuple(made))
    return values


_UNSEEN = object()


_Bind = tuple[str, Any, Callable[[Any], Any]]  # parameter name, the statement's own value, bind processor
_Direct = tuple[str, list[_Bind]] | None  # the SQL and its parameters, or None: SQLAlchemy's own path
_COMPILED: weakref.WeakKeyDictionary[sa.Executable, _Direct] = weakref.WeakKeyDictionary()


def _compiled_for_sqlite(statement: sa.Executable, dialect: sa.Dialect) -> _Direct:
    """The SQL and, per parameter, its name, fixed value and bind processor; None when a column
    default must be computed per row (SQLAlchemy's own path does that)."""
    if statement in _COMPILED:
        return _COMPILED[statement]
    compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    found: _Direct = None
    if not compiled.insert_prefetch and not compiled.update_prefetch:
        fixed = compiled.params
        plan: list[_Bind] = []
        for name in compiled.positiontup or ():
            # The dialect's own type (as SQLAlchemy would use): the generic DateTime has no processor,
            # and sqlite3 would then write aware times with an offset beside the others without.
            process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            plan.append((name, fixed.get(name), process or _same))
        found = (compiled.string, plan)
    _COMPILED[statement] = found
    return found


def _same(value: Any) -> Any:
    return value


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """The engine's session factory; objects stay readable after commit (the CLI prints them).

    One per engine: every ``sessionmaker`` is a new ``Session`` subclass whose event dispatch costs
    ~100 µs to set up, and a campaign opens two transactions per chunk it sends."""
    found = _SESSIONS.get(engine)
    if found is None:
        found = _SESSIONS[engine] = sessionmaker(engine, expire_on_commit=False)
    return found


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One session in one transaction: committed if the block ends, rolled back if it raises."""
    with make_sessions(engine).begin() as session:
        yield session


def _alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % (e.g. in ?options=-csearch_path%3D...) must be doubled.
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def head_revision() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory.from_config(_alembic_config(sa.create_engine("sqlite://"))).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except sa.exc.OperationalError as err:
        shown = engine.url.render_as_string(hide_password=True)
        raise DatabaseError(f"cannot reach the database {shown}: {redact_url(str(err.orig))}") from err


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest migration; returns (revision before, revision after)."""
    before = current_revision(engine)
    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return before, head_revision()


def check_schema_current(engine: Engine) -> None:
    """Raise DatabaseError unless the database is at the newest migration."""
    if current_revision(engine) != head_revision():
        raise DatabaseError(BEHIND)
