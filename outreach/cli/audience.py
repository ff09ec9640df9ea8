"""Audience commands: ``db``, ``lists``, ``suppress`` (``segments`` and ``topics`` are in ``segments.py``).

Thin commands over ``outreach.audience``: parse, load the config once, call one library function,
format the result. Every command's help carries an ``Example:`` line.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from outreach.audience.choices import respell_stored
from outreach.audience.csv_import import ImportReport, import_csv
from outreach.audience.csv_read import parse_mapping
from outreach.audience.db import make_engine, transaction, upgrade
from outreach.audience.export import export_csv
from outreach.audience.free_text import clean_text
from outreach.audience.gdpr import export_person, holds_anything
from outreach.audience.import_plan import ExistingPolicy, ImportOptions
from outreach.audience.schema import SuppressionReason
from outreach.audience.segments import ALL
from outreach.audience.subscribers import (
    Profile,
    add_subscriber,
    profile_dict,
    require,
    set_tags,
    unsubscribe,
)
from outreach.audience.suppression import suppress, suppressions, unsuppress
from outreach.audience.topics import sync_topics
from outreach.cli import audience_setup as setup
from outreach.cli.common import RootOption, cli_actor, config_for, console, console_err
from outreach.cli.segments import segments_app, topics_app
from outreach.clock import SystemClock
from outreach.errors import AudienceError
from outreach.operations.people import erase_person

db_app = typer.Typer(
    help="The database: create and upgrade its schema.\n\nExample: outreach db upgrade", no_args_is_help=True
)
lists_app = typer.Typer(
    help="Subscribers: import, export, add, remove, show, tag, GDPR.\n\n"
    "Example: outreach lists import lists/examples/members.csv --consent 'Membership records, 2026'",
    no_args_is_help=True,
)
suppress_app = typer.Typer(
    help="The suppression list: addresses never mailed again.\n\nExample: outreach suppress list",
    no_args_is_help=True,
)
_ready, _admin = setup.ready, setup.admin


# --- db -------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(root: Path | None = RootOption) -> None:
    """Create or upgrade the database schema, load lists/topics.yaml, and store roles and languages
    written as a label or an alias (before [audience] existed) as their keys.

    Example: outreach db upgrade
    """
    config = config_for(root)
    engine = make_engine(config.database_url)
    before, after = upgrade(engine)
    with transaction(engine) as session:
        sync_topics(session, setup.topics(config))
        respelled = respell_stored(session, setup.choices(config))
    if respelled:
        console.print(
            f"stored {respelled} roles and languages as their keys from [audience] in outreach.toml"
        )
    if before == after:
        console.print(f"the database is up to date (revision {after})")
    else:
        console.print(f"upgraded the database from {before or 'empty'} to revision {after}")


# --- lists ----------------------------------------------------------------------------------------


def _print_report(report: ImportReport) -> None:
    title = "would import (dry run, nothing written)" if report.dry_run else "imported"
    source = f"{report.format}, " if report.format else ""
    console.print(
        f"{escape(report.path.name)}: {report.rows} rows read ({source}{report.encoding}, "
        f"separator {report.delimiter!r}); {title}:"
    )
    table = Table(show_header=False, box=None, padding=(0, 2))
    for label, value in (
        ("new subscribers", report.new),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("already subscribed (skipped)", report.skipped_existing),
        ("kept out (unsubscribed, bounced, complained, erased or suppressed)", len(report.kept_out)),
        ("left at the source: put on the suppression list", report.suppressed),
        ("left at the source: already suppressed", report.already_suppressed),
        ("duplicates in the file, merged", report.merged_duplicates),
        ("rejected", report.rejected),
    ):
        table.add_row(label, str(value))
    console.print(table)
    for kept in report.kept_out[:10]:
        console.print(f"  line {kept.line}: {escape(kept.email)} kept out ({kept.reason})")
    if report.rejects_path:
        console.print(f"rejected rows, with line numbers and reasons: {escape(str(report.rejects_path))}")


@lists_app.command("import")
def lists_import(
    file: Path = typer.Argument(..., help="The CSV export to import.", exists=False),
    consent: str | None = typer.Option(
        None, "--consent", help="Consent basis for rows without a consent column."
    ),
    map_: list[str] = typer.Option(
        [],
        "--map",
        help='Map a column: "Column name=field" (or =attributes.NAME, =attributes for a JSON object, '
        "=status, =ignore).",
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

    Addresses that unsubscribed, bounced, complained or are suppressed are never re-subscribed. Exports
    of Mailchimp, listmonk, Mailcoach and Buttondown are recognised: people who left there (unsubscribed,
    cleaned, bounced, blocklisted) go on the suppression list.

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
        choices=setup.choices(config),
    )
    report = import_csv(
        engine,
        file,
        options,
        setup.topics(config),
        SystemClock(),
        mapping=parse_mapping(map_),
        dry_run=dry_run,
        rejects_path=rejects,
        actor=cli_actor(),
    )
    _print_report(report)


@lists_app.command("export")
def lists_export(
    segment: str = typer.Option(ALL, "--segment", help="Segment to export (default: all)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
    excel: bool = typer.Option(
        False, "--excel", help="For Excel: a UTF-8 byte order mark first, so accents show as written."
    ),
    root: Path | None = RootOption,
) -> None:
    """Export the mailable members of a segment as CSV (re-importable).

    Cells that a spreadsheet would run as a formula are written with a leading apostrophe.

    Example: outreach lists export --segment clinicians-hampton-roads -o clinicians.csv --excel
    """
    config = config_for(root)
    chosen = setup.segment(config, segment)
    engine = _ready(config)
    rule = chosen.rule if chosen else None
    with transaction(engine) as session:
        if output is None:
            written = export_csv(session, sys.stdout, rule, date.today(), excel=excel)
        else:
            with output.open("w", encoding="utf-8", newline="") as out:
                written = export_csv(session, out, rule, date.today(), excel=excel)
            console.print(f"wrote {written} subscribers to {escape(str(output))}")


@lists_app.command("add")
def lists_add(
    email: str = typer.Argument(..., help="The address."),
    consent: str = typer.Option(..., "--consent", help="How they agreed (required)."),
    first_name: str = typer.Option("", "--first-name"),
    last_name: str = typer.Option("", "--last-name"),
    organisation: str = typer.Option("", "--organisation"),
    role: str = typer.Option("", "--role", help="A role key or label from [audience] roles."),
    region: str = typer.Option("", "--region"),
    language: str = typer.Option("", "--language", help="A language key or name (default: the first)."),
    topic: list[str] = typer.Option([], "--topic", help="Topic key (repeatable)."),
    tag: list[str] = typer.Option([], "--tag", help="Tag (repeatable)."),
    root: Path | None = RootOption,
) -> None:
    """Add one subscriber, with their consent basis.

    Example: outreach lists add ana@example.org --consent "March training" --role home-visitor
    """
    config = config_for(root)
    engine = _ready(config)
    choices = setup.choices(config)
    keys = {}
    for name, given, listed in (("role", role, choices.roles), ("language", language, choices.languages)):
        keys[name] = listed.resolve(given) if clean_text(given) else ""
        if keys[name] is None:
            raise AudienceError(f"--{name}: {listed.unknown(given)}")
    topics = topic or [t.key for t in setup.topics(config) if t.default]
    profile = Profile(
        first_name,
        last_name,
        organisation,
        keys["role"] or "",
        region,
        keys["language"] or choices.default_language,
    )
    with transaction(engine) as session:
        sync_topics(session, setup.topics(config))
        subscriber = add_subscriber(
            session,
            email,
            consent=_admin(consent),
            clock=SystemClock(),
            profile=profile,
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

    An address nothing is held about is not erased (exit status 1).

    Example: outreach lists erase ana@example.org --yes
    """
    if not yes:
        typer.confirm(f"Erase {email} permanently?", abort=True)
    config = config_for(root)
    engine = _ready(config)
    with transaction(engine) as session:
        if not holds_anything(session, email):
            console_err.print(f"nothing is held about {escape(email.strip())}; nothing was erased")
            raise typer.Exit(1)
        hashed = erase_person(session, email, cli_actor(), SystemClock())
    console.print(f"erased; suppression hash {hashed[:16]}... kept")


# --- suppressions --------------------------------------------------------------------------------


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
