"""Exporting subscribers to CSV in the same shape the importer reads back.

Columns are the standard fields, ``topics`` and ``tags`` joined with ``;``, then one column per
custom attribute. Streams in batches so a large list never sits in memory at once. Cells are written
through ``csv_write`` (no cell runs as a spreadsheet formula; ``excel=True`` adds the byte order mark
Excel needs to read UTF-8).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.csv_write import csv_writer
from outreach.audience.schema import Subscriber
from outreach.audience.segment_sql import segment_query
from outreach.audience.segments import Rule

COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "organisation",
    "role",
    "region",
    "language",
    "time_zone",
    "status",
    "topics",
    "tags",
    "signup_date",
)
BATCH = 1000


def _rows(session: Session, rule: Rule | None, today: date) -> Iterator[Subscriber]:
    ids = segment_query(rule, today).subquery()
    query = (
        sa.select(Subscriber)
        .where(Subscriber.id.in_(sa.select(ids.c.id)))
        .order_by(Subscriber.id)
        .execution_options(yield_per=BATCH)
    )
    yield from session.scalars(query)


def _attribute_keys(session: Session, rule: Rule | None, today: date) -> list[str]:
    keys: set[str] = set()
    for subscriber in _rows(session, rule, today):
        keys.update(subscriber.attributes)
    return sorted(keys - set(COLUMNS))


def export_csv(session: Session, out: TextIO, rule: Rule | None, today: date, *, excel: bool = False) -> int:
    """Write the mailable members of a segment (None: everyone mailable); returns the row count."""
    attributes = _attribute_keys(session, rule, today)
    writer = csv_writer(out, excel=excel)
    writer.writerow([*COLUMNS, *attributes])
    count = 0
    for subscriber in _rows(session, rule, today):
        values: dict[str, Any] = {
            "email": subscriber.email,
            "first_name": subscriber.first_name,
            "last_name": subscriber.last_name,
            "organisation": subscriber.organisation,
            "role": subscriber.role,
            "region": subscriber.region,
            "language": subscriber.language,
            "time_zone": subscriber.time_zone or "",
            "status": subscriber.status.value,
            "topics": ";".join(sorted(t.topic_key for t in subscriber.topics)),
            "tags": ";".join(sorted(t.tag for t in subscriber.tags)),
            "signup_date": subscriber.signup_date.isoformat(),
        }
        writer.writerow([values[c] for c in COLUMNS] + [subscriber.attributes.get(k, "") for k in attributes])
        count += 1
    return count
