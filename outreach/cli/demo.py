"""``outreach demo``: the main job end to end on the example content, repeatable on a fresh machine.

It checks and renders the example issue, loads the example members into a demo database of its own
(``demo/demo.db``, made anew each run so the real ``outreach.db`` is never touched), sends the issue to
its audience through the maildir transport (``demo/outbox``: nothing leaves the machine) and says
where everything is.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import typer
from rich.markup import escape

from outreach.accounts.schema import Role
from outreach.accounts.users import add_user
from outreach.audience import make_engine, transaction, upgrade
from outreach.audience.csv_import import import_csv
from outreach.audience.import_plan import ImportOptions
from outreach.audience.topics import load_topics
from outreach.checks import run_checks
from outreach.cli.authoring import render_files
from outreach.cli.common import RootOption, cli_actor, config_for, console
from outreach.clock import SystemClock
from outreach.delivery import ledger
from outreach.delivery.wiring import runner_for
from outreach.operations import Purpose, plan_send, start_campaign
from outreach.transports.maildir import MaildirTransport

# A demo database's admin, with a new random password each run (printed once, never stored in clear).
DEMO_ADMIN = "admin@demo.example"
EXAMPLE = Path("newsletters") / "2026-12-holding-the-holidays.md"
MEMBERS = Path("lists") / "examples" / "members.csv"


def demo(
    issue: Path = typer.Argument(EXAMPLE, help="The issue to run through (default: the example issue)."),
    root: Path | None = RootOption,
) -> None:
    """Check, render and send the example issue to the example members, into a local maildir.

    Example: outreach demo
    """
    config = config_for(root)
    folder = config.root / "demo"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    path = issue if issue.is_absolute() else config.root / issue
    report = run_checks(path, config, spam=False)
    console.print(
        f"1. checked {escape(str(issue))}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    )
    for finding in report.errors:
        console.print(f"   [red]{escape(finding.where)}: {escape(finding.message)}[/]")
    written = render_files(path, folder / "rendered", "", config)
    console.print(f"2. rendered for a sample reader into {written[0].parent}", markup=False)

    clock = SystemClock()
    engine = make_engine(f"sqlite:///{folder / 'demo.db'}")
    upgrade(engine)
    topics = load_topics(config.path("lists") / "topics.yaml")
    imported = import_csv(
        engine,
        config.root / MEMBERS,
        ImportOptions(consent="VAIMH example data", actor="outreach demo"),
        topics,
        clock,
    )
    console.print(
        f"3. imported {imported.new} example members from {MEMBERS} into {folder / 'demo.db'}", markup=False
    )

    planned = plan_send(config, engine, path, purpose=Purpose.SEND, send_now=True, clock=clock)
    for warning in planned.clearance.report.warnings:
        console.print(f"   [yellow]{escape(warning.where)}: {escape(warning.message)}[/]")
    campaign_id = start_campaign(config, engine, planned, clock, actor=cli_actor())
    outbox = folder / "outbox"
    with MaildirTransport("outbox", outbox) as way_out:
        runner_for(config, engine, campaign_id, "outbox", way_out, clock).run()
    with transaction(engine) as session:
        counts = ledger.counts(session, campaign_id)
    console.print(
        f"4. sent campaign {campaign_id} to the issue's audience: "
        + ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    )
    console.print(
        f"\nThe messages are in [bold]{escape(str(outbox / 'new'))}[/] "
        "(one file each, any mail client reads them);"
    )
    console.print(f"the rendered issue is [bold]{escape(str(written[0]))}[/].")
    password = secrets.token_urlsafe(12)
    with transaction(engine) as session:
        add_user(session, DEMO_ADMIN, Role.ADMIN, password, cli_actor(), clock)
    database_url = f"sqlite:///{folder / 'demo.db'}"
    console.print(
        f"\nTo look around the admin app on this demo data, start the service with\n"
        f"  OUTREACH_DATABASE_URL={database_url} OUTREACH_BASE_URL=http://127.0.0.1:8000 outreach serve\n"
        f"then open http://127.0.0.1:8000/admin/ and sign in as {DEMO_ADMIN} with the password {password}",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(demo)
