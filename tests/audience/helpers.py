"""Small helpers shared by the audience tests."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience.csv_import import ImportReport, import_csv
from outreach.audience.import_plan import ImportOptions
from outreach.audience.schema import (
    ConsentEvent,
    Subscriber,
    SubscriberTag,
    SubscriberTopic,
    Suppression,
)
from outreach.audience.topics import TopicDefinition
from outreach.clock import Clock


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def run_import(
    engine: Engine,
    path: Path,
    topics: tuple[TopicDefinition, ...],
    clock: Clock,
    *,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    rejects_path: Path | None = None,
    **options: object,
) -> ImportReport:
    return import_csv(
        engine,
        path,
        ImportOptions(**options),  # type: ignore[arg-type]
        topics,
        clock,
        mapping=mapping,
        dry_run=dry_run,
        rejects_path=rejects_path,
    )


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every audience table, for 'nothing changed' assertions."""
    tables = {
        "subscribers": sa.select(Subscriber.__table__).order_by(Subscriber.id),
        "tags": sa.select(SubscriberTag.__table__).order_by(SubscriberTag.subscriber_id, SubscriberTag.tag),
        "topics": sa.select(SubscriberTopic.__table__).order_by(
            SubscriberTopic.subscriber_id, SubscriberTopic.topic_key
        ),
        "consent": sa.select(ConsentEvent.__table__).order_by(ConsentEvent.id),
        "suppressions": sa.select(Suppression.__table__).order_by(Suppression.email_hash),
    }
    with engine.connect() as connection:
        return {name: [tuple(row) for row in connection.execute(q)] for name, q in tables.items()}


def count(engine: Engine, table: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
