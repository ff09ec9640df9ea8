"""Scheduling commands: ``outreach schedule ISSUE|list|cancel|pause-automation|resume-automation`` and
``outreach scheduler run``.

Every failure is one line that says what to do (an ``OutreachError``, printed by ``outreach.cli``);
database errors are turned into one here, since a locked SQLite file is an everyday event.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import Engine
from typer.core import TyperGroup

from outreach.audience import transaction
from outreach.cli.common import RootOption, cli_actor, config_for, console
from outreach.clock import SystemClock, iso_time, show_time
from outreach.config import Config
from outreach.delivery.wiring import database, transport_name
from outreach.operations.schedule import apply_jobs as library_apply_jobs
from outreach.operations.schedule import database_errors, schedule_send
from outreach.scheduling.automations import overview, set_paused
from outreach.scheduling.planning import PendingJobs, Scheduled, cancel_issue, listing, recent
from outreach.scheduling.service import SchedulerService, ServiceSettings
from outreach.scheduling.timing import SendWindow


class _IssueFirst(TyperGroup):
    """``outreach schedule ISSUE`` is short for ``outreach schedule add ISSUE``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["add", *args]
        return super().parse_args(ctx, args)


schedule_app = typer.Typer(
    cls=_IssueFirst,
    no_args_is_help=True,
    help="Schedule issues and steer automations. `outreach schedule ISSUE` schedules one.\n\n"
    "Example: outreach schedule newsletters/2026-12-holding-the-holidays.md",
)
scheduler_app = typer.Typer(
    no_args_is_help=True,
    help="The long-running scheduler.\n\nExample: outreach scheduler run",
)


def apply_jobs(pending: PendingJobs, engine: Engine, config: Config) -> None:
    """Write the job changes after the campaign rows are committed; a failure is a note, not an error."""
    note = library_apply_jobs(pending, engine, config)
    if note:
        console.print(f"[yellow]note:[/] {escape(note)}")


@schedule_app.command("add")
def add(
    issue: Path = typer.Argument(..., help="The issue's Markdown file, with send_at in its front matter."),
    transport: str | None = typer.Option(
        None, "--transport", help="A named transport, as in \\[transports.NAME] of outreach.toml."
    ),
    local_time: bool = typer.Option(
        False, "--local-time", help="Send at send_at's clock time in each subscriber's own time zone."
    ),
    allow_uncommitted: bool = typer.Option(
        False,
        "--allow-uncommitted",
        help="Schedule although there are changes not committed to git (unreviewed).",
    ),
    root: Path | None = RootOption,
) -> None:
    """Schedule an issue for its send_at (the send gate first: the checks, spam score, review; re-run after
    an edit).

    Scheduling again replaces the earlier schedule and the content: the edited issue is what goes out.

    Example: outreach schedule newsletters/2026-12-holding-the-holidays.md
    """
    config = config_for(root)
    name = transport_name(config, transport)
    with database_errors(config):
        engine = database(config)
    done = schedule_send(
        config,
        engine,
        issue,
        actor=cli_actor(),
        transport=name,
        local_time=local_time,
        allow_uncommitted=allow_uncommitted,
    )
    for note in done.notes:
        console.print(f"[yellow]note[/] {escape(note)}")
    report_scheduled(done.scheduled, config.time_zone)


def report_scheduled(planned: Scheduled, zone: ZoneInfo) -> None:
    """What was scheduled, when it goes, and who will not get it, in the configured zone."""
    verb = "re-scheduled (content replaced)" if planned.rescheduled else "scheduled"
    when = show_time(planned.send_at, zone)
    console.print(f"{planned.slug} {verb} for [bold]{when}[/] as campaign {planned.campaign_id}")
    if planned.wakes_at != planned.send_at and not planned.local_time:
        console.print(f"the send window opens {show_time(planned.wakes_at, zone)}: it goes then")
    if planned.local_time:
        console.print(
            f"at {planned.send_at.astimezone(zone):%H:%M} in each reader's own zone: "
            f"from {show_time(planned.wakes_at, zone)} to {show_time(planned.missed_after, zone)}"
        )
    if planned.passed_zones:
        console.print(
            f"[yellow]readers in {escape(', '.join(planned.passed_zones))} will not get it:[/] their local "
            "time passed more than the grace ago; pick a later send_at to reach them"
        )
    console.print("`outreach scheduler run` must be running to send it; `outreach schedule list` shows it")


@schedule_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json"), root: Path | None = RootOption) -> None:
    """Scheduled issues (times in the configured zone), recent misses, and automation steps.

    Example: outreach schedule list --json
    """
    config = config_for(root)
    window = SendWindow.from_settings(config.settings.schedule)
    zone = config.time_zone
    with database_errors(config), transaction(database(config)) as session:
        sends = listing(session, window, recent(SystemClock()))
        steps = overview(session, config)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "time_zone": config.settings.schedule.time_zone,
                    "issues": [
                        {
                            "campaign": s.campaign_id,
                            "issue": s.slug,
                            "subject": s.subject,
                            "status": str(s.status),
                            "send_at": iso_time(s.send_at, zone),
                            "goes_at": iso_time(s.wakes_at, zone),
                            "local_time": s.local_time,
                            "transport": s.transport,
                        }
                        for s in sends
                    ],
                    "automations": steps,
                },
                indent=2,
            )
        )
        return
    table = Table("campaign", "issue", "send at", "goes at", "status", "transport", title="Scheduled issues")
    for s in sends:
        status = f"[bold red]{s.status}[/]" if str(s.status) == "missed" else str(s.status)
        goes = show_time(s.wakes_at, zone) + (" (local)" if s.local_time else "")
        table.add_row(
            str(s.campaign_id), escape(s.slug), show_time(s.send_at, zone), goes, status, s.transport
        )
    console.print(table if sends else "no issue is scheduled")
    if steps:
        autos = Table("step", "when", "state", "campaign", "sent", title="Automations")
        for row in steps:
            state = "[yellow]paused[/]" if row["paused"] else "active"
            autos.add_row(
                str(row["step"]), str(row["when"]), state, str(row["campaign"] or "-"), str(row["sent"])
            )
        console.print(autos)


@schedule_app.command("cancel")
def cancel(
    issue: str = typer.Argument(..., help="The issue's file or its slug (file name without .md)."),
    root: Path | None = RootOption,
) -> None:
    """Cancel an issue's scheduled send (before it has started).

    Example: outreach schedule cancel newsletters/2026-12-holding-the-holidays.md
    """
    config = config_for(root)
    slug = Path(issue).stem
    pending = PendingJobs()
    with database_errors(config):
        engine = database(config)
        with transaction(engine) as session:
            campaign_id = cancel_issue(session, slug, SystemClock(), pending)
    apply_jobs(pending, engine, config)
    console.print(f"{slug}: scheduled send cancelled (campaign {campaign_id})")


def _pause(name: str, root: Path | None, paused: bool) -> None:
    config = config_for(root)
    with database_errors(config), transaction(database(config)) as session:
        names = set_paused(session, config, name, paused, SystemClock())
    console.print(f"{'paused' if paused else 'resumed'}: {', '.join(names)}")


@schedule_app.command("pause-automation")
def pause_automation(
    name: str = typer.Argument(..., help="A step (welcome-2) or a series (welcome)."),
    root: Path | None = RootOption,
) -> None:
    """Pause an automation step or series; nobody gets it until it is resumed.

    Example: outreach schedule pause-automation welcome
    """
    _pause(name, root, True)


@schedule_app.command("resume-automation")
def resume_automation(
    name: str = typer.Argument(..., help="A step (welcome-2) or a series (welcome)."),
    root: Path | None = RootOption,
) -> None:
    """Resume a paused automation; subscribers who came due meanwhile are sent it.

    Example: outreach schedule resume-automation welcome
    """
    _pause(name, root, False)


@scheduler_app.command("run")
def run(
    lease_seconds: float = typer.Option(
        30.0,
        "--lease-seconds",
        min=0.5,
        help="How long the lease lasts unless renewed (a standby waits this long).",
    ),
    poll: float = typer.Option(5.0, "--poll", min=0.1, help="Seconds between looks for due work."),
    automations_every: float = typer.Option(
        300.0, "--automations-every", min=0.1, help="Seconds between passes over the automations."
    ),
    root: Path | None = RootOption,
) -> None:
    """Run the scheduler: sends scheduled issues and automations on time (one active per database).

    A second one started on the same database waits as a standby and takes over if the first stops.

    Example: outreach scheduler run
    """
    config = config_for(root)
    SendWindow.from_settings(config.settings.schedule)  # a bad window is one line, before anything starts
    with database_errors(config):
        engine = database(config)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def say(line: str) -> None:
        stamp = show_time(datetime.now(UTC), config.time_zone, seconds=True)
        loud = line.startswith(("MISSED", "ERROR"))
        console.print(f"{stamp} " + (f"[bold red]{escape(line)}[/]" if loud else escape(line)))
        sys.stdout.flush()

    settings = ServiceSettings(
        lease_seconds=lease_seconds, poll_seconds=poll, automations_every=automations_every
    )
    SchedulerService(config, engine, SystemClock(), settings, say, stop).run()


def register(app: Any) -> None:
    app.add_typer(schedule_app, name="schedule")
    app.add_typer(scheduler_app, name="scheduler")
