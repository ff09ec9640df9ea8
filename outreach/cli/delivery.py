"""Delivery commands: send (plan, test send, real send), campaigns ..., worker."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from outreach.audience import transaction
from outreach.cli.common import RootOption, cli_actor, config_for, console
from outreach.clock import SystemClock, iso_time, show_time
from outreach.config import Config
from outreach.delivery import campaigns as campaign_ops
from outreach.delivery import ledger
from outreach.delivery.runner import Progress as SendProgress
from outreach.delivery.schema import Campaign, CampaignStatus
from outreach.delivery.wiring import build_transport, database, runner_for, transport_name
from outreach.models import Audience
from outreach.operations import (
    Purpose,
    SendPlan,
    TestCopy,
    plan_send,
    run_campaign,
    sample_message,
    send_test_copies,
    start_campaign,
    when,
)
from outreach.operations.campaign_view import reviewed_line
from outreach.operations.one_off import LetterPlan, first_letter, plan_letter, start_letter
from outreach.operations.steering import Steer, steer
from outreach.render import CompiledIssue
from outreach.transports.base import Outcome, OutgoingMessage, Transport

campaigns_app = typer.Typer(
    help="Follow and steer campaigns.\n\nExample: outreach campaigns status 3", no_args_is_help=True
)


def send(
    issue: Path = typer.Argument(..., help="The issue's Markdown file."),
    segment: list[str] = typer.Option([], "--segment", help="Send to this segment (repeatable)."),
    topic: list[str] = typer.Option([], "--topic", help="Send to subscribers of this topic (repeatable)."),
    transport: str | None = typer.Option(
        None, "--transport", help="A named transport, as in \\[transports.NAME] of outreach.toml."
    ),
    test_to: list[str] = typer.Option([], "--test-to", help="Send a [TEST] copy to this address only."),
    edition: str | None = typer.Option(
        None,
        "--edition",
        help="With --test-to: only this language edition (e.g. es); without it, a copy of each edition.",
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Send to at most N recipients."),
    yes: bool = typer.Option(False, "--yes", help="Really send (without it, only show the plan)."),
    now: bool = typer.Option(False, "--now", help="Send now even though the issue's send_at lies ahead."),
    allow_uncommitted: bool = typer.Option(
        False,
        "--allow-uncommitted",
        help="Send through a real transport although the issue, its layouts or settings have changes not "
        "committed to git (skips the review gate, and says so).",
    ),
    recipients: Path | None = typer.Option(
        None,
        "--recipients",
        help="Send a one-off letter to the people in this CSV (its columns personalise it as "
        "{{ recipient.COLUMN }}) instead of the issue's audience.",
    ),
    consent: str = typer.Option(
        "", "--consent", help="With --recipients: why you may write to them (kept in the consent log)."
    ),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="With --recipients: send to the valid rows although some are invalid."
    ),
    add_to_list: str | None = typer.Option(
        None,
        "--add-to-list",
        metavar="TOPIC",
        help="With --recipients: also make them subscribers of this topic (only if they agreed).",
    ),
    root: Path | None = RootOption,
) -> None:
    """Plan, test or send an issue to its audience, or a one-off letter to the people in a CSV.

    Without --yes nothing is sent: the plan (recipients, exclusions, transport, rate, when, what the
    send gate would refuse, the first message) is shown. --test-to sends [TEST] copies of the real
    message to the given addresses only; drafts may be tested. A real send needs 'status: ready', no
    errors from `outreach check` (SpamAssassin included) and, for an issue whose send_at lies ahead,
    --now (or `outreach schedule`).

    With --recipients the letter goes to the rows of a CSV instead: suppressed and unsubscribed
    addresses are left out and listed, invalid rows stop the send (--skip-invalid sends to the rest),
    nobody gets the letter twice, and the contacts join no list unless --add-to-list says so.

    Example: outreach send newsletters/2026-12-holding-the-holidays.md --test-to me@example.org

    Example: outreach send newsletters/2026-12-winter-gathering-invitation.md
    --recipients lists/examples/partner-agencies.csv --consent "Partner agencies we work with, 2026"
    """
    config = config_for(root)
    name = transport_name(config, transport)
    if test_to:
        copies = send_test_copies(
            config, issue, test_to, name, engine=database(config), actor=cli_actor(), edition=edition
        )
        for copy in copies:
            _print_test_copy(copy)
        return
    if edition:
        raise typer.BadParameter("--edition picks the edition of a test copy; use it with --test-to")
    engine = database(config)
    if recipients is not None:
        letter = Letter(consent, skip_invalid, add_to_list)
        _send_letter(config, engine, issue, recipients, letter, name, yes, now, allow_uncommitted)
        return
    if consent or skip_invalid or add_to_list:
        raise typer.BadParameter("--consent, --skip-invalid and --add-to-list go with --recipients FILE.csv")
    audience = Audience(tuple(topic), tuple(segment))
    purpose = Purpose.SEND if yes else Purpose.PLAN
    planned = plan_send(
        config,
        engine,
        issue,
        purpose=purpose,
        audience=audience,
        transport=name,
        limit=limit,
        send_now=now,
        allow_uncommitted=allow_uncommitted,
    )
    _print_plan(config, planned)
    if not yes:
        _show_first_message(config, planned.compiled)
        if planned.clearance.refusals:
            console.print("Nothing was sent. Fix what the gate refuses (above) before sending.", markup=False)
        else:
            console.print(
                "Nothing was sent. Add [bold]--yes[/] to send, or --test-to ADDRESS for a test copy."
            )
        return
    campaign_id = start_campaign(config, engine, planned, actor=cli_actor())
    console.print(f"campaign {campaign_id} created")
    _run(config, engine, campaign_id, name)


@dataclass(frozen=True)
class Letter:
    """The one-off options of ``send``."""

    consent: str
    skip_invalid: bool
    add_to_list: str | None


def _send_letter(
    config: Config,
    engine: sa.Engine,
    issue: Path,
    recipients: Path,
    letter: Letter,
    name: str,
    yes: bool,
    now: bool,
    allow_uncommitted: bool,
) -> None:
    if yes and not letter.consent.strip():
        raise typer.BadParameter(
            'say why you may write to these people: --consent "Partner agencies we work with, 2026"',
            param_hint="--consent",
        )
    planned = plan_letter(
        config,
        engine,
        issue,
        recipients,
        purpose=Purpose.SEND if yes else Purpose.PLAN,
        transport=name,
        send_now=now,
        allow_uncommitted=allow_uncommitted,
        skip_invalid=letter.skip_invalid,
    )
    _print_letter_plan(config, planned)
    if planned.refusals or not yes:
        if planned.clearance.report.compiled is not None and not yes:
            _show_message(first_letter(config, planned), "first message (for the file's first recipient)")
        if planned.refusals:
            console.print("Nothing was sent. Fix what is refused (above) before sending.", markup=False)
            raise typer.Exit(1 if yes else 0)
        console.print("Nothing was sent. Add [bold]--yes[/] (and --consent) to send.")
        return
    if planned.recipients == 0:
        console.print("Nothing was sent: nobody in the file is left to write to.", markup=False)
        return
    campaign_id = start_letter(
        config, engine, planned, actor=cli_actor(), consent=letter.consent, add_to_topic=letter.add_to_list
    )
    console.print(f"campaign {campaign_id} created")
    _run(config, engine, campaign_id, name)


def _print_letter_plan(config: Config, planned: LetterPlan) -> None:
    out = console
    contacts = planned.contacts.contacts
    report = planned.clearance.report
    subject = report.compiled.issue.subject if report.compiled is not None else str(planned.clearance.path)
    out.print(f"{subject}  ({planned.clearance.path})", markup=False)
    rows = len(contacts.contacts) + len(contacts.repeats) + len(contacts.invalid)
    out.print(
        f"recipients: {contacts.path} ({rows} rows; columns {', '.join(contacts.columns)})", markup=False
    )
    out.print(f"to send: [bold]{planned.recipients}[/]")
    for left in planned.contacts.left_out:
        out.print(f"  left out, row {left.row}: {left.email} ({left.why})", markup=False)
    for bad in planned.invalid:
        out.print(f"[red]  invalid, row {bad.row}[/]: {escape(bad.reason)}")
    out.print(
        f"transport: {planned.transport} ({planned.backend}), rate {planned.rate}, "
        f"{planned.concurrency} at once",
        markup=False,
    )
    if report.spam is not None:
        out.print(f"SpamAssassin: {report.spam.score} for {report.spam_reader}", markup=False)
    for warning in report.warnings:
        where = f"{warning.where}: " if warning.where else ""
        out.print(f"[yellow]warning[/] {escape(where + warning.message)}")
    for note in planned.clearance.notes:
        out.print(f"[yellow]note[/] {escape(note)}")
    for reason in planned.refusals:
        out.print(f"[red]refused[/] {escape(reason)}")


def _print_plan(config: Config, planned: SendPlan) -> None:
    compiled = planned.compiled
    out = console
    out.print(f"{compiled.issue.subject}  ({planned.clearance.path})", markup=False)
    topics = ", ".join(planned.audience.topics) or "none"
    segments = ", ".join(planned.audience.segments) or "none"
    out.print(f"audience: topics {topics}; segments {segments}", markup=False)
    out.print(f"recipients: [bold]{planned.recipients}[/]")
    if len(planned.editions) > 1:  # an issue in several languages: who reads which edition
        for language, count in planned.editions.items():
            subject = next(
                e.issue.subject for e in planned.clearance.editions if e.issue.language == language
            )
            out.print(f"  {language} edition: {count}  ({subject})", markup=False)
    for why, count in sorted(planned.plan.excluded.items()):
        out.print(f"  left out, {why}: {count}", markup=False)
    out.print(
        f"transport: {planned.transport} ({planned.backend}), rate {planned.rate}, "
        f"{planned.concurrency} at once",
        markup=False,
    )
    due = planned.clearance.due
    out.print(f"when: {'due ' + when(due, config) if due else 'now'}", markup=False)
    report = planned.clearance.report
    if report.spam is not None:
        out.print(f"SpamAssassin: {report.spam.score} for {report.spam_reader}", markup=False)
    for warning in report.warnings:
        where = f"{warning.where}: " if warning.where else ""
        out.print(f"[yellow]warning[/] {escape(where + warning.message)}")
    for note in planned.clearance.notes:
        out.print(f"[yellow]note[/] {escape(note)}")
    review = planned.clearance.review
    if review is not None and review.clean:
        out.print(f"reviewed: commit {review.commit[:12]}", markup=False)
    elif review is not None and not review.repository:
        out.print("reviewed: no (this project is not a git repository)", markup=False)
    for reason in planned.clearance.refusals:
        out.print(f"[red]refused[/] {escape(reason)}")


def _print_test_copy(copy: TestCopy) -> None:
    result = copy.result
    said = " ".join(p for p in (result.code, result.detail) if p)
    of = f" ({escape(copy.edition)} edition)" if copy.edition else ""
    if result.outcome is Outcome.SENT:
        console.print(
            f"[green]test copy sent[/]{of} to {escape(copy.address)}" + (f" ({escape(said)})" if said else "")
        )
    else:
        console.print(
            f"[red]test copy not sent[/]{of} to {escape(copy.address)}: {result.outcome} {escape(said)}"
        )


def _show_first_message(config: Config, compiled: CompiledIssue) -> None:
    _show_message(sample_message(config, compiled), "first message (for a sample reader)")


def _show_message(message: OutgoingMessage, title: str) -> None:
    head = message.raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    console.print(f"[dim]{title}:[/]")
    console.print(head, markup=False, soft_wrap=True)
    console.print("\n".join(message.text.splitlines()[:12]), markup=False, soft_wrap=True)
    console.print(f"[dim]... {len(message.raw) / 1024:.1f} KB[/]")


def _run(config: Config, engine: sa.Engine, campaign_id: int, name: str) -> SendProgress:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn(
            "{task.completed}/{task.total} sent · {task.fields[failed]} failed · {task.fields[rate]:.0f}/s"
        ),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(f"campaign {campaign_id}", total=None, failed=0, rate=0.0)

        def report(progress: SendProgress) -> None:
            bar.update(
                task,
                total=progress.total,
                completed=progress.done,
                failed=progress.failed,
                rate=progress.rate,
            )

        progress = run_campaign(config, engine, campaign_id, name, report)
    _summary(engine, campaign_id, progress)
    return progress


def _summary(engine: sa.Engine, campaign_id: int, progress: SendProgress) -> None:
    with transaction(engine) as session:
        campaign = campaign_ops.get_campaign(session, campaign_id)
        counts = ledger.counts(session, campaign_id)
    shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    console.print(f"campaign {campaign_id} is {campaign.status}: {shown}")
    if campaign.pause_reason:
        console.print(f"[yellow]paused: {escape(campaign.pause_reason)}[/]")
    if counts["pending"] and campaign.status is CampaignStatus.SENDING:
        console.print(f"{counts['pending']} wait for a retry; `outreach worker` sends them when due")
    if counts["unknown"]:
        console.print(
            f"[yellow]{counts['unknown']} unknown[/]: see `outreach campaigns status {campaign_id}`"
        )


@campaigns_app.command("list")
def list_campaigns(as_json: bool = typer.Option(False, "--json"), root: Path | None = RootOption) -> None:
    """List campaigns, newest first.

    Example: outreach campaigns list
    """
    config = config_for(root)
    zone = config.time_zone
    engine = database(config)
    with transaction(engine) as session:
        rows = [
            (c, ledger.counts(session, c.id))
            for c in session.scalars(sa.select(Campaign).order_by(Campaign.id.desc()).limit(100))
        ]
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": c.id,
                        "issue": c.issue_slug,
                        "status": str(c.status),
                        "created_at": iso_time(c.created_at, zone),
                        "counts": n,
                    }
                    for c, n in rows
                ],
                indent=2,
            )
        )
        return
    table = Table("id", "issue", "status", "created", "sent", "recipients", "failed", "unknown")
    for c, n in rows:
        table.add_row(
            str(c.id),
            c.issue_slug,
            str(c.status),
            show_time(c.created_at, zone),
            str(n["sent"]),
            str(sum(n.values())),
            str(n["failed"]),
            str(n["unknown"]),
        )
    console.print(table)


@campaigns_app.command("status")
def status(
    campaign_id: int, as_json: bool = typer.Option(False, "--json"), root: Path | None = RootOption
) -> None:
    """Counts per state, the reasons, and the history of one campaign.

    Example: outreach campaigns status 3 --json
    """
    config = config_for(root)
    zone = config.time_zone
    engine = database(config)
    with transaction(engine) as session:
        campaign = campaign_ops.get_campaign(session, campaign_id)
        counts = ledger.counts(session, campaign_id)
        editions = ledger.counts_by_edition(session, campaign_id)
        reasons = ledger.reasons(session, campaign_id)
        events = campaign_ops.history(session, campaign_id)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "id": campaign.id,
                    "issue": campaign.issue_slug,
                    "status": str(campaign.status),
                    "transport": campaign.transport,
                    "pause_reason": campaign.pause_reason,
                    "reviewed_commit": campaign.reviewed_commit,
                    "content_hash": campaign.content_hash,
                    "counts": counts,
                    **({"editions": editions} if editions else {}),
                    "reasons": [{"state": s, "reason": r, "count": n} for s, r, n in reasons],
                    "history": [
                        {"at": iso_time(e.at, zone), "kind": e.kind, "detail": e.detail} for e in events
                    ],
                },
                indent=2,
            )
        )
        return
    console.print(
        f"campaign {campaign.id}: {campaign.issue_slug} · {campaign.status} · via {campaign.transport}",
        markup=False,
    )
    if campaign.pause_reason:
        console.print(f"[yellow]paused: {escape(campaign.pause_reason)}[/]")
    console.print(f"  {reviewed_line(campaign.reviewed_commit, campaign.content_hash)}", markup=False)
    console.print("  " + ", ".join(f"{state} {n}" for state, n in counts.items()))
    for language, per_state in editions.items():
        shown = ", ".join(f"{state} {n}" for state, n in per_state.items() if n)
        console.print(f"  {language} edition: {shown}", markup=False)
    for state, reason, n in reasons:
        console.print(f"  {n:>6} {state}: {reason}", markup=False)
    for event in events:
        when = show_time(event.at, zone, seconds=True)
        console.print(f"  {when} {event.kind} {event.detail}", markup=False)


def _change(campaign_id: int, root: Path | None, verb: str) -> tuple[Config, sa.Engine]:
    config = config_for(root)
    engine = database(config)
    done = steer(engine, campaign_id, Steer(verb), cli_actor(), SystemClock())
    said = {
        Steer.PAUSE: f"campaign {campaign_id} paused; `outreach campaigns resume {campaign_id}` continues",
        Steer.RESUME: f"campaign {campaign_id} resumed",
        Steer.CANCEL: f"campaign {campaign_id} cancelled; {done.moved} recipients will not be sent",
        Steer.RETRY_FAILED: f"{done.moved} recipients that failed for a passing reason are queued again",
        Steer.RESEND_UNKNOWN: f"{done.moved} recipients of unknown fate are queued (some may get it twice)",
    }
    console.print(said[Steer(verb)], markup=False)
    return config, engine


@campaigns_app.command("pause")
def pause_cmd(campaign_id: int, root: Path | None = RootOption) -> None:
    """Pause a campaign; workers stop after the batch in hand.

    Example: outreach campaigns pause 3
    """
    _change(campaign_id, root, "pause")


@campaigns_app.command("cancel")
def cancel_cmd(campaign_id: int, root: Path | None = RootOption) -> None:
    """Cancel a campaign for good; recipients not yet sent are skipped.

    Example: outreach campaigns cancel 3
    """
    _change(campaign_id, root, "cancel")


def _resume_and_run(campaign_id: int, root: Path | None, verb: str, run: bool) -> None:
    config, engine = _change(campaign_id, root, verb)
    with transaction(engine) as session:
        campaign = campaign_ops.get_campaign(session, campaign_id)
        name, status_now = campaign.transport, campaign.status
    if run and status_now is CampaignStatus.SENDING:
        _run(config, engine, campaign_id, name)


@campaigns_app.command("resume")
def resume_cmd(
    campaign_id: int,
    run: bool = typer.Option(
        True, "--run/--no-run", help="Send here and now (default), or leave it to `outreach worker`."
    ),
    root: Path | None = RootOption,
) -> None:
    """Resume a paused or interrupted campaign: only pending recipients are sent.

    Recipients caught mid-send by a crash become 'unknown' (never resent without resend-unknown).

    Example: outreach campaigns resume 3
    """
    _resume_and_run(campaign_id, root, "resume", run)


@campaigns_app.command("retry-failed")
def retry_failed_cmd(
    campaign_id: int, run: bool = typer.Option(True, "--run/--no-run"), root: Path | None = RootOption
) -> None:
    """Queue again recipients that failed for transient reasons (not bounces), and send.

    Example: outreach campaigns retry-failed 3
    """
    _resume_and_run(campaign_id, root, "retry-failed", run)


@campaigns_app.command("resend-unknown")
def resend_unknown_cmd(
    campaign_id: int, run: bool = typer.Option(True, "--run/--no-run"), root: Path | None = RootOption
) -> None:
    """Send again to recipients whose fate is unknown after a crash (they may get it twice).

    Example: outreach campaigns resend-unknown 3
    """
    _resume_and_run(campaign_id, root, "resend-unknown", run)


def worker(
    once: bool = typer.Option(False, "--once", help="One pass over the campaigns, then exit."),
    poll: float = typer.Option(5.0, "--poll", help="Seconds between looks for work."),
    root: Path | None = RootOption,
) -> None:
    """Send every campaign in the 'sending' state, and the sign-up mails the web service queued;
    several workers may share the work (PostgreSQL).

    Example: outreach worker --once
    """
    from outreach.web.system_mails import SystemMailer

    config = config_for(root)
    engine = database(config)
    clock = SystemClock()
    open_transports: dict[str, Transport] = {}

    def default_transport() -> Transport:
        name = transport_name(config, None)
        if name not in open_transports:
            open_transports[name] = build_transport(config, name)
        return open_transports[name]

    sign_up_mail = SystemMailer(config, engine, clock, default_transport)
    try:
        while True:
            if handed := sign_up_mail.run_once():
                console.print(f"{handed} sign-up mail(s) sent")
            with transaction(engine) as session:
                due = session.execute(
                    sa.select(Campaign.id, Campaign.transport)
                    .where(Campaign.status == CampaignStatus.SENDING)
                    .order_by(Campaign.id)
                ).all()
            for campaign_id, name in due:
                if name not in open_transports:
                    open_transports[name] = build_transport(config, name)
                runner = runner_for(config, engine, campaign_id, name, open_transports[name], clock)
                done = runner.run(wait_for_retries=False)
                console.print(f"campaign {campaign_id}: {done.sent} sent, {done.failed} failed so far")
            if once:
                return
            time.sleep(poll)
    finally:
        for way_out in open_transports.values():
            way_out.close()


def register(app: typer.Typer) -> None:
    app.command()(send)
    app.add_typer(campaigns_app, name="campaigns")
    app.command()(worker)
