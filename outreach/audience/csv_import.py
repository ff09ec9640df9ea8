"""Applying an import plan: every accepted row in one transaction, or nothing.

``import_csv`` is the one call the CLI, the admin app (and the benchmark) make: read the file, plan
it, write the rejects CSV, and unless it is a dry run apply the plan with batched inserts in a single
transaction, with an entry in the audit log. Any failure while applying rolls the whole import back
and is reported as ``ImportRejected``. People who left at the tool the file came from go on the
suppression list in the same transaction. A ``progress`` callback hears how far it is (the admin app
shows it while a large file is written in the background).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outreach.audience.audit import record
from outreach.audience.consent import Consent, event_row
from outreach.audience.csv_read import Table, read_table
from outreach.audience.csv_write import csv_writer
from outreach.audience.db import bulk_cache, execute_many, transaction
from outreach.audience.import_plan import ImportOptions, ImportPlan, KeptOut, Reject, plan_import
from outreach.audience.schema import (
    ConsentAction,
    ConsentEvent,
    ConsentMethod,
    Subscriber,
    SubscriberStatus,
    SubscriberTag,
    SubscriberTopic,
    Suppression,
)
from outreach.audience.suppression import STATUS_FOR_REASON
from outreach.audience.topics import TopicDefinition, sync_topics
from outreach.clock import Clock
from outreach.errors import ImportRejected
from outreach.models import Actor

BATCH = 2000
# progress(stage, done, total): stage is "reading", "checking" or "writing"; done and total count rows.
Progress = Callable[[str, int, int], None]


def _silent(stage: str, done: int, total: int) -> None:
    """The progress callback of a caller that does not watch."""


@dataclass(frozen=True)
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    path: Path
    encoding: str
    delimiter: str
    format: str  # the tool the file came from, when recognised
    rows: int
    new: int
    updated: int
    unchanged: int
    skipped_existing: int
    kept_out: tuple[KeptOut, ...]
    rejected: int
    merged_duplicates: int
    rejects_path: Path | None
    dry_run: bool
    suppressed: int = 0  # people who left at the source, newly on the suppression list
    already_suppressed: int = 0
    rejects: tuple[Reject, ...] = ()  # with their line and reason
    header: tuple[str, ...] = ()  # the file's columns as written
    columns: tuple[str, ...] = ()  # what each column was read as


def default_rejects_path(path: Path) -> Path:
    """``members.csv`` -> ``members.rejects.csv`` beside it."""
    return path.with_name(f"{path.stem}.rejects.csv")


def write_rejects(plan: ImportPlan, table: Table, target: Path) -> None:
    """The rejected rows as they were, with their line number and reason in front."""
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv_writer(out)
        writer.writerow(["line", "reason", *table.header])
        for reject in plan.rejects:
            writer.writerow([reject.line, reject.reason, *reject.raw])


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[start : start + BATCH] for start in range(0, len(rows), BATCH)]


def _insert(session: Session, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Bulk insert in the session's transaction, through ``execute_many``: on SQLite, SQLAlchemy's own
    per-row bookkeeping was a third of an import's time. Every row has the first row's columns."""
    if not rows:
        return
    connection = session.connection()
    statement = sa.insert(table).values({column: sa.bindparam(column) for column in rows[0]})
    for chunk in _chunks(rows):
        execute_many(connection, statement, chunk)


def _consent(options: ImportOptions, source: str) -> Consent:
    return Consent(
        method=ConsentMethod.IMPORT,
        source=source,
        notice_version=options.notice_version,
        actor=options.actor,
    )


def planned_rows(plan: ImportPlan) -> int:
    """How many rows applying the plan writes: new, updated and suppressed people."""
    return len(plan.new) + len(plan.updates) + len(plan.suppress)


def apply_plan(
    session: Session, plan: ImportPlan, options: ImportOptions, clock: Clock, progress: Progress = _silent
) -> None:
    """Write the plan with batched statements; the caller's transaction makes it all-or-nothing."""
    total = planned_rows(plan)
    done = 0
    now = clock.now()
    subscribers: sa.Table = Subscriber.__table__  # type: ignore[assignment]
    ids: dict[str, int] = {}
    new_rows = [
        {
            "email": c.email,
            "email_hash": c.email_hash,
            "first_name": c.profile.get("first_name", ""),
            "last_name": c.profile.get("last_name", ""),
            "organisation": c.profile.get("organisation", ""),
            "role": c.profile.get("role", ""),
            "region": c.profile.get("region", ""),
            "language": c.profile.get("language", options.choices.default_language),
            "time_zone": c.profile.get("time_zone"),
            "status": SubscriberStatus.ACTIVE,
            "attributes": c.attributes,
            "signup_date": c.signup_date or now.date(),
            "created_at": now,
            "updated_at": now,
        }
        for c in plan.new
    ]
    # Plain executemany, then one indexed lookup per chunk for the new ids: several times faster
    # on SQLite than INSERT ... RETURNING, and the same on PostgreSQL.
    for chunk in _chunks(new_rows):
        _insert(session, subscribers, chunk)
        emails = [row["email"] for row in chunk]
        found = session.execute(
            sa.select(subscribers.c.email, subscribers.c.id).where(subscribers.c.email.in_(emails))
        )
        ids.update((email, subscriber_id) for email, subscriber_id in found)
        done += len(chunk)
        progress("writing", done, total)
    topic_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for c in plan.new:
        sid = ids[c.email]
        # One event per new subscriber: subscribed, to these topics, by this import.
        events.append(
            event_row(
                subscriber_id=sid,
                email_hash=c.email_hash,
                action=ConsentAction.SUBSCRIBED,
                consent=_consent(options, c.consent),
                at=now,
                topics=" ".join(sorted(c.new_topics)) or None,
            )
        )
        topic_rows.extend({"subscriber_id": sid, "topic_key": key} for key in sorted(c.new_topics))
        tag_rows.extend({"subscriber_id": sid, "tag": tag} for tag in sorted(c.tags))
    for number, update in enumerate(plan.updates, 1):
        if number % BATCH == 0:
            progress("writing", done + number, total)
        if update.values:
            session.execute(
                sa.update(subscribers)
                .where(subscribers.c.id == update.subscriber_id)
                .values(**update.values, updated_at=now)
            )
        if update.new_topics:
            topic_rows.extend(
                {"subscriber_id": update.subscriber_id, "topic_key": key} for key in sorted(update.new_topics)
            )
            events.append(
                event_row(
                    subscriber_id=update.subscriber_id,
                    email_hash=update.candidate.email_hash,
                    action=ConsentAction.TOPIC_ADDED,
                    consent=_consent(options, update.candidate.consent),
                    at=now,
                    topics=" ".join(sorted(update.new_topics)),
                )
            )
        tag_rows.extend(
            {"subscriber_id": update.subscriber_id, "tag": tag} for tag in sorted(update.new_tags)
        )
    _insert(session, SubscriberTopic.__table__, topic_rows)  # type: ignore[arg-type]
    _insert(session, SubscriberTag.__table__, tag_rows)  # type: ignore[arg-type]
    _insert(session, ConsentEvent.__table__, events)  # type: ignore[arg-type]
    progress("writing", done + len(plan.updates), total)
    apply_departures(session, plan, options, clock)
    progress("writing", total, total)


def apply_departures(session: Session, plan: ImportPlan, options: ImportOptions, clock: Clock) -> None:
    """People who left at the source: on the suppression list, and out of ``active`` if they were in."""
    now = clock.now()
    subscribers: sa.Table = Subscriber.__table__  # type: ignore[assignment]
    entries, events = [], []
    for item in plan.suppress:
        gone = item.departure
        entries.append(
            {
                "email_hash": gone.email_hash,
                "email": gone.email,
                "reason": gone.reason,
                "note": gone.note,
                "created_at": now,
            }
        )
        events.append(
            event_row(
                subscriber_id=item.subscriber_id,
                email_hash=gone.email_hash,
                action=ConsentAction.SUPPRESSED,
                consent=_consent(options, gone.note),
                at=now,
            )
        )
        if item.stops_mailing and item.subscriber_id is not None:
            session.execute(
                sa.update(subscribers)
                .where(subscribers.c.id == item.subscriber_id)
                .values(status=STATUS_FOR_REASON[gone.reason], updated_at=now)
            )
    _insert(session, Suppression.__table__, entries)  # type: ignore[arg-type]
    _insert(session, ConsentEvent.__table__, events)  # type: ignore[arg-type]


@contextmanager
def _no_collector_pauses() -> Iterator[None]:
    """The cyclic garbage collector off while a file is read and planned: 100,000 rows make hundreds
    of thousands of small objects, none in a cycle, and the collector's repeated full scans of them
    took half of an import's time. Its previous state is restored."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def needs_consent(table: Table, options: ImportOptions) -> bool:
    """Whether the file needs a consent basis from the person importing it.

    A file that can say who left (a status or unsubscribe column) may hold only people to suppress,
    who need no consent basis; its other rows are then checked one by one.
    """
    says_who_left = {"status", "unsubscribed_at", "cleaned_at"} & set(table.columns)
    return not options.consent and "consent" not in table.columns and not says_who_left


@dataclass(frozen=True)
class Reading:
    """How to read a file when the detected way is wrong: columns, encoding, separator."""

    mapping: dict[str, str] | None = None
    encoding: str | None = None
    delimiter: str | None = None


def _read_plan_apply(
    engine: Engine,
    path: Path,
    options: ImportOptions,
    topics: tuple[TopicDefinition, ...],
    clock: Clock,
    reading: Reading,
    dry_run: bool,
    actor: Actor | None,
    progress: Progress,
) -> tuple[Table, ImportPlan]:
    progress("reading", 0, 0)
    table = read_table(path, reading.mapping, encoding=reading.encoding, delimiter=reading.delimiter)
    if options.consent is None and needs_consent(table, options):
        raise ImportRejected(
            f"{path}: every subscriber needs a consent basis; add a consent column or pass "
            '--consent "Spring conference sign-up sheet, 2026-03"'
        )
    try:
        with transaction(engine) as session:
            bulk_cache(session)
            sync_topics(session, topics)
            progress("checking", 0, len(table.records))
            plan = plan_import(session, table, options, topics)
            if dry_run:
                session.rollback()
            else:
                apply_plan(session, plan, options, clock, progress)
                if actor is not None:
                    record(session, actor, "lists.import", f"file {path.name}", clock, _audited(plan))
    except sa.exc.SQLAlchemyError as err:
        raise ImportRejected(
            f"{path}: the import failed while writing and was rolled back, nothing was changed: "
            f"{type(err).__name__}: {getattr(err, 'orig', err)}"
        ) from err
    return table, plan


def _audited(plan: ImportPlan) -> dict[str, int]:
    return {
        "rows": plan.rows,
        "new": len(plan.new),
        "updated": len(plan.updates),
        "unchanged": plan.unchanged,
        "skipped_existing": plan.skipped_existing,
        "kept_out": len(plan.kept_out),
        "suppressed": len(plan.suppress),
        "rejected": len(plan.rejects),
    }


def import_csv(
    engine: Engine,
    path: Path,
    options: ImportOptions,
    topics: tuple[TopicDefinition, ...],
    clock: Clock,
    *,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    rejects_path: Path | None = None,
    reading: Reading | None = None,
    actor: Actor | None = None,
    progress: Progress = _silent,
) -> ImportReport:
    """Read, plan and (unless ``dry_run``) apply one CSV export in one transaction.

    ``reading`` overrides how the file is read (``mapping`` alone is the CLI's ``--map``); ``actor``
    puts the import in the audit log (not a dry run: it changes nothing).
    """
    how = reading or Reading(mapping=mapping)
    with _no_collector_pauses():
        table, plan = _read_plan_apply(engine, path, options, topics, clock, how, dry_run, actor, progress)

    target = None
    if plan.rejects:
        target = rejects_path or default_rejects_path(path)
        write_rejects(plan, table, target)
    return ImportReport(
        path=path,
        encoding=table.encoding,
        delimiter=table.delimiter,
        format=table.format,
        rows=plan.rows,
        new=len(plan.new),
        updated=len(plan.updates),
        unchanged=plan.unchanged,
        skipped_existing=plan.skipped_existing,
        kept_out=tuple(plan.kept_out),
        rejected=len(plan.rejects),
        merged_duplicates=plan.merged_duplicates,
        rejects_path=target,
        dry_run=dry_run,
        suppressed=len(plan.suppress),
        already_suppressed=plan.already_suppressed,
        rejects=tuple(plan.rejects),
        header=table.header,
        columns=table.columns,
    )
