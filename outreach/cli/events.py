"""Bounce commands: ``outreach bounces process PATH...`` for mail sent over SMTP, and the campaign report.

Bounces and complaints for SMTP senders come back as mail to the return path, and ``mailto:``
unsubscribes as mail to the unsubscribe address; point this at those mailboxes (Maildir folders or
mbox files). Webhooks need no command: ``outreach serve`` receives them.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from outreach.admin.report_file import write_report
from outreach.audience import transaction
from outreach.cli.common import RootOption, config_for, console
from outreach.clock import SystemClock
from outreach.delivery.wiring import database
from outreach.errors import OutreachError
from outreach.events import EventKind
from outreach.events.figures import CampaignReport, campaign_report, editions
from outreach.events.inbox import MailboxReport, process

bounces_app = typer.Typer(
    help="Read bounces, complaints and mailto unsubscribes sent back to the site.\n\n"
    "Example: outreach bounces process /var/mail/vaimh-bounces",
    no_args_is_help=True,
)


def _print(path: Path, report: MailboxReport) -> None:
    console.print(f"{escape(str(path))}: {report.messages} messages read")
    table = Table(show_header=False, box=None, padding=(0, 2))
    for kind in EventKind:
        if kind not in (EventKind.CLICKED, EventKind.UNSUBSCRIBED):
            table.add_row(kind.value.replace("_", " "), str(report.kinds.get(kind.value, 0)))
    table.add_row("unsubscribed (mailto)", str(report.unsubscribed))
    table.add_row("already applied (no change)", str(report.duplicates))
    table.add_row("changed nothing", str(len(report.unmatched)))
    table.add_row("quarantined", str(len(report.quarantined)))
    console.print(table)
    for item in report.unmatched:
        subject = f" ({escape(item.subject)})" if item.subject else ""
        console.print(f"  {escape(item.where)}{subject}: {escape(item.reason)}")
    for bad in report.quarantined:
        subject = f" ({escape(bad.subject)})" if bad.subject else ""
        moved = f"; moved to {escape(bad.moved_to)}" if bad.moved_to else ""
        console.print(f"  [red]quarantined[/red] {escape(bad.where)}{subject}: {escape(bad.reason)}{moved}")
    if report.moved:
        console.print(f"moved {report.moved} messages to cur/")


@bounces_app.command("process")
def bounces_process(
    paths: list[Path] = typer.Argument(
        ..., help="Maildir folders (with new/ and cur/) or mbox files: the bounce and unsubscribe mailboxes."
    ),
    keep: bool = typer.Option(False, "--keep", help="Leave Maildir messages in new/ instead of moving them."),
    include_seen: bool = typer.Option(
        False, "--all", help="Read Maildir cur/ too (already processed messages change nothing)."
    ),
    root: Path | None = RootOption,
) -> None:
    """Apply the bounces (RFC 3464), complaints (RFC 5965) and mailto unsubscribes in mailboxes.

    A report changes somebody only when it names a message this site sent them, by its VERP return
    path or Message-ID (set [events] return_path in outreach.toml); anything else is listed as
    changing nothing. Hard bounces and complaints suppress the address at once; soft bounces (mailbox
    full, delays given up) are counted and never suppress; a delay ("Action: delayed") is not a
    bounce. A mail whose subject carries a valid unsubscribe-TOKEN unsubscribes that subscriber at
    once (its From line is never trusted). A message that cannot be read is moved to the Maildir's
    .Quarantine folder and listed; the others are still processed. Processed Maildir messages move
    from new/ to cur/ marked seen (unless --keep); an mbox file is never changed. Reading a message
    twice changes nothing.

    Example: outreach bounces process /var/mail/vaimh-bounces/Maildir /var/mail/vaimh-unsubscribe/Maildir
    """
    config = config_for(root)
    engine = database(config)
    for path in paths:
        report = process(
            engine, path, SystemClock(), keys=config.accepted_keys, keep=keep, include_seen=include_seen
        )
        _print(path, report)


def report(
    campaign_id: int,
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    links: int = typer.Option(10, "--links", min=0, help="How many of the most followed links to show."),
    html: Path | None = typer.Option(
        None,
        "--html",
        help="Also write the whole report, charts included, as one self-contained HTML file "
        "(no script, nothing fetched from the network) to share with the board.",
    ),
    root: Path | None = RootOption,
) -> None:
    """A campaign's figures: sent, failed and skipped; bounces, complaints, unsubscribes and clicks
    per message sent; the most followed links (when [web] click_tracking is on). People are counted
    once per kind (a DSN and a provider's event for one message are one bounce); bounces include the
    addresses refused while sending; unsubscribes include those through the mail's own links.
    With --html, the same report as the admin app shows it (figures, charts over time, editions,
    links, history) is written to FILE.

    Example: outreach report 3 --html board-report-december.html
    """
    config = config_for(root)
    engine = database(config)
    with transaction(engine) as session:
        figures = campaign_report(session, campaign_id)
        per_edition = [
            campaign_report(session, campaign_id, edition=language)
            for language in editions(session, campaign_id)
        ]
    if html is not None:
        _write_html(html, write_report(config, engine, campaign_id, SystemClock()))
    if as_json:
        body = figures.as_json()
        if per_edition:
            body["editions"] = [part.as_json() for part in per_edition]
        typer.echo(json.dumps(body, indent=2))
        return
    console.print(
        f"campaign {figures.campaign_id}: {escape(figures.issue)} · {figures.status} · via "
        f"{escape(figures.transport)}"
    )
    console.print(f"  {escape(figures.subject)}", highlight=False)
    counts = figures.recipients
    waiting = counts["pending"] + counts["sending"]
    refused = f" ({figures.refused:,} refused as bounced while sending)" if figures.refused else ""
    console.print(
        f"  sent {counts['sent']:,} of {sum(counts.values()):,} recipients: "
        f"{counts['failed']:,} failed{refused}, {counts['skipped']:,} skipped, "
        f"{counts['unknown']:,} unknown, {waiting:,} still to send",
        highlight=False,
    )
    events, rates = figures.events, figures.rates()
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("delivered (provider confirmed)", f"{events['delivered']:,}", "")
    bounced = events["bounced_hard"] + events["bounced_soft"]
    detail = f"{events['bounced_hard']:,} hard, {events['bounced_soft']:,} soft"
    table.add_row("bounced", f"{bounced:,}", f"{rates['bounced']:.2%} of sent ({detail})")
    table.add_row("complained", f"{events['complained']:,}", f"{rates['complained']:.2%} of sent")
    table.add_row("unsubscribed", f"{events['unsubscribed']:,}", f"{rates['unsubscribed']:.2%} of sent")
    table.add_row("clicked (provider events)", f"{events['clicked']:,}", f"{rates['clicked']:.2%} of sent")
    console.print(table)
    if per_edition:
        console.print("  per language edition:")
        for part in per_edition:
            console.print(f"    {_edition_line(part)}", markup=False, highlight=False)
    if figures.links and links:
        console.print("  most followed links (tracked clicks):")
        for url, count in figures.links[:links]:
            console.print(f"  {count:>7,}  {url}", markup=False, highlight=False)


def _edition_line(part: CampaignReport) -> str:
    """One edition's figures on one line: who got it and what came back."""
    counts, events, rates = part.recipients, part.events, part.rates()
    return (
        f"{part.edition}: sent {counts['sent']:,} of {sum(counts.values()):,}, "
        f"{counts['failed']:,} failed, {counts['skipped']:,} skipped; "
        f"bounced {part.bounced:,} ({rates['bounced']:.2%}), complained {events['complained']:,} "
        f"({rates['complained']:.2%}), unsubscribed {events['unsubscribed']:,} "
        f"({rates['unsubscribed']:.2%}), "
        f"clicked {events['clicked']:,}"
    )


def _write_html(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise OutreachError(f"{path}: cannot write the report ({err.strerror}); choose another file") from err
    console.print(f"wrote the report to {escape(str(path))}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the bounce commands and the campaign report to the main app."""
    app.add_typer(bounces_app, name="bounces")
    app.command("report")(report)
