"""Audience commands: ``db``, ``lists``, ``segments``, ``topics``, ``suppress``.

Thin commands over ``outreach.audience``: parse, load the config once, call one library function,
format the result. Every command's help carries an ``Example:`` line.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy.engine import Engine

from outreach.audience.consent import Consent
from outreach.audience.csv_import import ImportReport, import_csv
from outreach.audience.csv_read import parse_mapping
from outreach.audience.db import check_schema_current, make_engine, transaction, upgrade
from outreach.audience.export import export_csv
from outreach.audience.gdpr import erase, export_person
from outreach.audience.import_plan import ExistingPolicy, ImportOptions
from outreach.audience.schema import ConsentMethod, SuppressionReason
from outreach.audience.segment_count import count_segment
from outreach.audience.segments import ALL, SEGMENTS_FILE, Segment, load_segments
from outreach.audience.subscribers import (
    Profile,
    add_subscriber,
    find_by_email,
    profile_dict,
    require,
    set_tags,
    unsubscribe,
)
from outreach.audience.suppression import suppress, suppressions, unsuppress
from outreach.audience.topics import TOPICS_FILE, TopicDefinition, load_topics, sync_topics
from outreach.cli.common import RootOption, config_for, console
from outreach.clock import SystemClock
from outreach.config import Config
from outreach.errors import SegmentError
from outreach.events.erasure import scrub_subscriber

db_app = typer.Typer(help="The database: create and upgrade its schema.", no_args_is_help=True)
lists_app = typer.Typer(
    help="Subscribers: import, export, add, remove, show, tag, GDPR.", no_args_is_help=True
)
segments_app = typer.Typer(help="Segments from lists/segments.yaml: list, show, count.", no_args_is_help=True)
topics_app = typer.Typer(help="Topics from lists/topics.yaml.", no_args_is_help=True)
suppress_app = typer.Typer(help="The suppression list: addresses never mailed again.", no_args_is_help=True)


def _ready(config: Config) -> Engine:
    engine = make_engine(config.database_url)
    check_schema_current(engine)
    return engine


def _topics(config: Config) -> tuple[TopicDefinition, ...]:
    return load_topics(config.path("lists") / TOPICS_FILE)


def _display(config: Config, path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path.relative_to(config.root)) if path.is_relative_to(config.root) else str(path)


def _segments(config: Config) -> dict[str, Segment]:
    path = config.path("lists") / SEGMENTS_FILE
    keys = [t.key for t in _topics(config)]
    return load_segments(path, keys, _display(config, path))


def _segment(config: Config, name: str) -> Segment | None:
    if name == ALL:
        return None
    segments = _segments(config)
    if name not in segments:
        path = _display(config, config.path("lists") / SEGMENTS_FILE)
        known = ", ".join([ALL, *segments])
        raise SegmentError(f"unknown segment {name!r}; known: {known}", path)
    return segments[name]


def _admin(source: str) -> Consent:
    return Consent(ConsentMethod.ADMIN, source=source, actor="outreach cli")


# --- db -------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(root: Path | None = RootOption) -> None:
    """Create or upgrade the database schema and load lists/topics.yaml.

    Example: outreach db upgrade
    """
    config = config_for(root)
    engine = make_engine(config.database_url)
    before, after = upgrade(engine)
    with transaction(engine) as session:
        sync_topics(session, _topics(config))
    if before == after:
        console.print(f"the database is up to date (revision {after})")
    else:
        console.print(f"upgraded the database from {before or 'empty'} to revision {after}")


# --- lists ----------------------------------------------------------------------------------------


def _print_report(report: ImportReport) -> None:
    title = "would import (dry run, nothing written)" if report.dry_run else "imported"
    console.print(
        f"{report.path.name}: {report.rows} rows read ({report.encoding}, "
        f"separator {report.delimiter!r}); {title}:"
    )
    table = Table(show_header=False, box=None, padding=(0, 2))
    for label, value in (
        ("new subscribers", report.new),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("already subscribed (skipped)", report.skipped_existing),
        ("kept out (unsubscribed, bounced, complained, erased or suppressed)", len(report.kept_out)),
        ("duplicates in the file, merged", report.merged_duplicates),
        ("rejected", report.rejected),
    ):
        table.add_row(label, str(value))
    console.print(table)
    for kept in report.kept_out[:10]:
        console.print(f"  line {kept.line}: {kept.email} kept out ({kept.reason})")
    if report.rejects_path:
        console.print(f"rejected rows, with line numbers and reasons: {report.rejects_path}")


@lists_app.command("import")
def lists_import(
    file: Path = typer.Argument(..., help="The CSV export to import.", exists=False),
    consent: str | None = typer.Option(
        None, "--consent", help="Consent basis for rows without a consent column."
    ),
    map_: list[str] = typer.Option(
        [], "--map", help='Map a column: "Column name=field" (or =attributes.NAME, =ignore).'
    ),
    update: bool = typer.Option(
        False,
        "--update/--skip-existing",
        help="Existing subscribers: --skip-existing (default) leaves them as they are; --update "
        "overwrites fields the file fills and adds its topics and tags (never removes any).",
    ),
    topic: list[str] = typer.Option(
        [], "--topic", help="Topic for rows that name none (default: the default topics)."
    ),
    tag: list[str] = typer.Option([], "--tag", help="Tag every imported row."),
    notice_version: str = typer.Option("", "--notice-version", help="Privacy notice version."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; write nothing."),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="Where rejected rows go (default: FILE.rejects.csv beside it)."
    ),
    root: Path | None = RootOption,
) -> None:
    """Import subscribers from a CSV export, all rows or none.

    Addresses that unsubscribed, bounced, complained or are suppressed are never re-subscribed.

    Example: outreach lists import members.csv --consent "Spring conference sign-up sheet, 2026-03"
    """
    config = config_for(root)
    engine = _ready(config)
    options = ImportOptions(
        consent=consent,
        policy=ExistingPolicy.UPDATE if update else ExistingPolicy.SKIP,
        topics=tuple(topic),
        tags=tuple(tag),
        notice_version=notice_version,
        actor="outreach lists import",
    )
    report = import_csv(
        engine,
        file,
        options,
        _topics(config),
        SystemClock(),
        mapping=parse_mapping(map_),
        dry_run=dry_run,
        rejects_path=rejects,
    )
    _print_report(report)


@lists_app.command("export")
def lists_export(
    segment: str = typer.Option(ALL, "--segment", help="Segment to export (default: all)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
    root: Path | None = RootOption,
) -> None:
    """Export the mailable members of a segment as CSV (re-importable).

    Example: outreach lists export --segment clinicians-hampton-roads -o clinicians.csv
    """
    config = config_for(root)
    chosen = _segment(config, segment)
    engine = _ready(config)
    with transaction(engine) as session:
        if output is None:
            written = export_csv(session, sys.stdout, chosen.rule if chosen else None, date.today())
        else:
            with output.open("w", encoding="utf-8", newline="") as out:
                written = export_csv(session, out, chosen.rule if chosen else None, date.today())
            console.print(f"wrote {written} subscribers to {output}")


@lists_app.command("add")
def lists_add(
    email: str = typer.Argument(..., help="The address."),
    consent: str = typer.Option(..., "--consent", help="How they agreed (required)."),
    first_name: str = typer.Option("", "--first-name"),
    last_name: str = typer.Option("", "--last-name"),
    organisation: str = typer.Option("", "--organisation"),
    role: str = typer.Option("", "--role"),
    region: str = typer.Option("", "--region"),
    language: str = typer.Option("en", "--language"),
    topic: list[str] = typer.Option([], "--topic", help="Topic key (repeatable)."),
    tag: list[str] = typer.Option([], "--tag", help="Tag (repeatable)."),
    root: Path | None = RootOption,
) -> None:
    """Add one subscriber, with their consent basis.

    Example: outreach lists add ana@example.org --consent "March training" --topic monthly-newsletter
    """
    config = config_for(root)
    engine = _ready(config)
    topics = topic or [t.key for t in _topics(config) if t.default]
    with transaction(engine) as session:
        sync_topics(session, _topics(config))
        subscriber = add_subscriber(
            session,
            email,
            consent=_admin(consent),
            clock=SystemClock(),
            profile=Profile(first_name, last_name, organisation, role, region, language),
            topics=topics,
            tags=tag,
        )
        console.print(f"added {subscriber.email} to {', '.join(topics) or 'no topics'}")


@lists_app.command("remove")
def lists_remove(
    email: str = typer.Argument(..., help="The address."),
    topic: str | None = typer.Option(None, "--topic", help="Leave only this topic."),
    reason: str = typer.Option("admin request", "--reason", help="Recorded in the consent log."),
    root: Path | None = RootOption,
) -> None:
    """Unsubscribe someone (from everything, or from one --topic); the consent log keeps why.

    Example: outreach lists remove ana@example.org --reason "asked by phone"
    """
    config = config_for(root)
    engine = _ready(config)
    with transaction(engine) as session:
        subscriber = require(session, email)
        unsubscribe(session, subscriber.id, consent=_admin(reason), clock=SystemClock(), topic=topic)
        console.print(f"unsubscribed {subscriber.email}" + (f" from {topic}" if topic else ""))


@lists_app.command("show")
def lists_show(
    email: str = typer.Argument(..., help="The address."),
    root: Path | None = RootOption,
) -> None:
    """Show one subscriber: fields, topics, tags, status.

    Example: outreach lists show ana@example.org
    """
    config = config_for(root)
    engine = _ready(config)
    with transaction(engine) as session:
        data = profile_dict(require(session, email))
    table = Table(show_header=False, box=None, padding=(0, 2))
    for key, value in data.items():
        shown = (
            ", ".join(value)
            if isinstance(value, list)
            else (json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value or ""))
        )
        table.add_row(key, shown)
    console.print(table)


@lists_app.command("tag")
def lists_tag(
    email: str = typer.Argument(..., help="The address."),
    tags: list[str] = typer.Argument(..., help="Tags to add."),
    remove: bool = typer.Option(False, "--remove", help="Remove the tags instead."),
    root: Path | None = RootOption,
) -> None:
    """Add (or --remove) tags on a subscriber.

    Example: outreach lists tag ana@example.org endorsed board
    """
    config = config_for(root)
    engine = _ready(config)
    with transaction(engine) as session:
        subscriber = require(session, email)
        now = set_tags(
            session,
            subscriber.id,
            add=() if remove else tags,
            remove=tags if remove else (),
            clock=SystemClock(),
        )
    console.print(f"{subscriber.email}: {', '.join(now) or 'no tags'}")


@lists_app.command("gdpr-export")
def lists_gdpr_export(
    email: str = typer.Argument(..., help="The address."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
    root: Path | None = RootOption,
) -> None:
    """Everything held about one person, as JSON (a subject access request).

    Example: outreach lists gdpr-export ana@example.org -o ana.json
    """
    config = config_for(root)
    engine = _ready(config)
    with transaction(engine) as session:
        data = export_person(session, email)
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"wrote {output}")


@lists_app.command("erase")
def lists_erase(
    email: str = typer.Argument(..., help="The address."),
    yes: bool = typer.Option(False, "--yes", help="Do it without asking."),
    root: Path | None = RootOption,
) -> None:
    """Erase a person: personal data removed, only a hash kept so they are never mailed again.

    Example: outreach lists erase ana@example.org --yes
    """
    if not yes:
        typer.confirm(f"Erase {email} permanently?", abort=True)
    config = config_for(root)
    engine = _ready(config)
    with transaction(engine) as session:
        person = find_by_email(session, email)
        hashed = erase(session, email, consent=_admin("erasure request"), clock=SystemClock())
        if person is not None:
            scrub_subscriber(session, person.id)
    console.print(f"erased; suppression hash {hashed[:16]}... kept")


# --- segments -------------------------------------------------------------------------------------


@segments_app.command("list")
def segments_list(root: Path | None = RootOption) -> None:
    """List the segments in lists/segments.yaml.

    Example: outreach segments list
    """
    config = config_for(root)
    table = Table("segment", "description")
    table.add_row(ALL, "every subscriber who may be mailed (built in)")
    for segment in _segments(config).values():
        table.add_row(segment.name, segment.description)
    console.print(table)


@segments_app.command("show")
def segments_show(name: str = typer.Argument(...), root: Path | None = RootOption) -> None:
    """Show a segment's description and rule.

    Example: outreach segments show clinicians-hampton-roads
    """
    config = config_for(root)
    segment = _segment(config, name)
    if segment is None:
        console.print("all: every subscriber who is active and not suppressed (built in)")
        return
    console.print(f"{segment.name} ({segment.path}:{segment.line})\n{segment.description}")
    console.print(repr(segment.rule), soft_wrap=True)


@segments_app.command("count")
def segments_count(
    name: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    root: Path | None = RootOption,
) -> None:
    """Count a segment's members (and how many may be mailed), with a sample.

    Example: outreach segments count clinicians-hampton-roads --json
    """
    config = config_for(root)
    segment = _segment(config, name)
    engine = _ready(config)
    with transaction(engine) as session:
        result = count_segment(session, segment.rule if segment else None, date.today())
    if as_json:
        data: dict[str, Any] = {
            "segment": name,
            "matching": result.matching,
            "mailable": result.mailable,
            "sample": [m.__dict__ for m in result.sample],
        }
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        return
    console.print(f"{name}: {result.matching} match, {result.mailable} may be mailed")
    for member in result.sample:
        console.print(f"  {member.email}  {member.name}  {member.role}  {member.region}")


# --- topics and suppressions ----------------------------------------------------------------------


@topics_app.command("list")
def topics_list(root: Path | None = RootOption) -> None:
    """List the topics from lists/topics.yaml.

    Example: outreach topics list
    """
    config = config_for(root)
    table = Table("key", "name", "default", "description")
    for t in _topics(config):
        table.add_row(t.key, t.name, "yes" if t.default else "", t.description)
    console.print(table)


@suppress_app.command("add")
def suppress_add(
    email: str = typer.Argument(...),
    reason: SuppressionReason = typer.Option(SuppressionReason.MANUAL, "--reason"),
    note: str = typer.Option("", "--note"),
    root: Path | None = RootOption,
) -> None:
    """Never mail an address again (whether or not it is a subscriber).

    Example: outreach suppress add someone@example.org --note "asked by phone"
    """
    config = config_for(root)
    engine = _ready(config)
    with transaction(engine) as session:
        entry = suppress(
            session, email, reason, consent=_admin(note or "suppress add"), clock=SystemClock(), note=note
        )
    console.print(f"suppressed {entry.email} ({entry.reason.value})")


@suppress_app.command("list")
def suppress_list(root: Path | None = RootOption) -> None:
    """Show the suppression list.

    Example: outreach suppress list
    """
    config = config_for(root)
    engine = _ready(config)
    with transaction(engine) as session:
        entries = suppressions(session)
        table = Table("address", "reason", "since", "note")
        for e in entries:
            table.add_row(
                e.email or f"(erased) {e.email_hash[:12]}...",
                e.reason.value,
                e.created_at.date().isoformat(),
                e.note,
            )
    console.print(table)


@suppress_app.command("remove")
def suppress_remove(email: str = typer.Argument(...), root: Path | None = RootOption) -> None:
    """Take an address off the suppression list (it stays unsubscribed).

    Example: outreach suppress remove someone@example.org
    """
    config = config_for(root)
    engine = _ready(config)
    with transaction(engine) as session:
        unsuppress(session, email, consent=_admin("suppress remove"), clock=SystemClock())
    console.print(f"removed {email} from the suppression list")


def register(app: typer.Typer) -> None:
    """Add the audience commands to the main app."""
    app.add_typer(db_app, name="db")
    app.add_typer(lists_app, name="lists")
    app.add_typer(segments_app, name="segments")
    app.add_typer(topics_app, name="topics")
    app.add_typer(suppress_app, name="suppress")
