"""Counting by the hour in the database: ``hour_number(column)`` is the hour since 1970 (UTC).

Charts over time group thousands to millions of rows; grouping them in SQL by a whole number sends a
few hundred rows to Python instead of every timestamp. Stored times are UTC on both databases, and an
hour is an hour in every time zone we show (zones differ from UTC by whole hours or half hours, and
days in the site's zone are made from these hours in Python).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

SECONDS = 3600


class hour_number(FunctionElement[int]):
    """The whole hours between 1970-01-01 00:00 UTC and a stored time."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "hour_number"


@compiles(hour_number, "sqlite")
def _sqlite(element: hour_number, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER) / {SECONDS})"


@compiles(hour_number)
def _postgresql(element: hour_number, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(floor(extract(epoch from {compiler.process(element.clauses, **kw)}) / {SECONDS}) AS BIGINT)"


def hour_of(moment: datetime) -> int:
    """The hour number of a time (the same number the database gives)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(aware.timestamp()) // SECONDS


def start_of(hour: int) -> datetime:
    """When an hour number begins, in UTC."""
    return datetime.fromtimestamp(hour * SECONDS, UTC)
