"""Delivery commands: send (plan, test send, real send), campaigns ..., worker."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from outreach.audience import load_segments, transaction
from outreach.audience.subscribers import known_topics
from outreach.checks import run_checks
from outreach.cli.common import RootOption, config_for, console
from outreach.clock import SystemClock
from outreach.config import Config
from outreach.content import read_issue
from outreach.delivery import campaigns as campaign_ops
from outreach.delivery import ledger
from outreach.delivery.campaigns import archivable, create_campaign, plan, sender_for
from outreach.delivery.frame import MessageFrame
from outreach.delivery.runner import Progress as SendProgress
from outreach.delivery.schema import Campaign, CampaignStatus
from outreach.delivery.tracking import tracking_for
from outreach.delivery.wiring import (
    build_transport,
    database,
    pacing,
    requires_public_links,
    runner_for,
    transport_name,
)
from outreach.errors import DeliveryError
from outreach.models import Audience, Recipient
from outreach.render import CompiledIssue, render_issue
from outreach.tokens import recipient_links
from outreach.transports.base import OutgoingMessage, Transport

campaigns_app = typer.Typer(help="Follow and steer campaigns.", no_args_is_help=True)


def send(
    issue: Path = typer.Argument(..., help="The issue's Markdown file."),
    segment: list[str] = typer.Option([], "--segment", help="Send to this segment (repeatable)."),
    topic: list[str] = typer.Option([], "--topic", help="Send to subscribers of this topic (repeatable)."),
    transport: str | None = typer.Option(None, "--transport", help="A [transports.NAME] of outreach.toml."),
    test_to: list[str] = typer.Option([], "--test-to", help="Send a [TEST] copy to this address only."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Send to at most N recipients."),
    yes: bool = typer.Option(False, "--yes", help="Really send (without it, only show the plan)."),
    root: Path | None = RootOption,
) -> None:
    """Plan, test or send an issue to its audience.

    Without --yes nothing is sent: the plan (recipients, exclusions, transport, rate, first message)
    is shown. --test-to sends [TEST] copies to the given addresses only.

    Example: outreach send newsletters/2026-12-holding-the-holidays.md --test-to me@example.org
    """
    config = config_for(root)
    report = run_checks(issue, config, spam=False)
    if report.errors:
        first = report.errors[0]
        raise DeliveryError(
            f"{issue} has {len(report.errors)} error(s), first: {first.where}: "
            f"{first.message}; run `outreach check {issue}`"
        )
    compiled = render_issue(read_issue(issue, config.time_zone), config)
    name = transport_name(config, transport)
    if test_to:
        _send_tests(config, compiled, name, test_to)
        return
    engine = database(config)
    audience = Audience(tuple(topic), tuple(segment)) if (segment or topic) else compiled.issue.audience
    clock = SystemClock()
    with transaction(engine) as session:
        segments = load_segments(
            config.path("lists") / "segments.yaml", known_topics(session), "lists/segments.yaml"
        )
        planned = plan(session, audience, segments, clock.now().date(), compiled.issue.slug, limit)
    limits, concurrency = pacing(config, name)
    console.print(f"[bold]{compiled.issue.subject}[/]  ({issue})")
    console.print(
        f"audience: topics {list(audience.topics) or '-'}, segments {list(audience.segments) or '-'}"
    )
    console.print(f"recipients: [bold]{planned.recipients}[/]")
    for why, count in sorted(planned.excluded.items()):
        console.print(f"  excluded, {why}: {count}")
    console.print(
        f"transport: {name} ({config.transport(name).backend}), rate {limits.describe()}, "
        f"{concurrency} at once"
    )
    if not yes:
        _show_first_message(config, compiled, name)
        console.print("Nothing was sent. Add [bold]--yes[/] to send, or --test-to ADDRESS for a test copy.")
        return
    if planned.recipients == 0:
        raise DeliveryError("nobody to send to: the audience is empty after exclusions")
    way_out = build_transport(config, name)
    requires_public_links(config, way_out)
    with transaction(engine) as session:
        campaign = create_campaign(
            session,
            compiled,
            sender_for(config, compiled),
            audience,
            segments,
            name,
            clock,
            limit=limit,
            tracking=tracking_for(config),
            archive=archivable(compiled.issue, limit),
        )
        campaign_id = campaign.id
    console.print(f"campaign {campaign_id} created")
    _run(config, engine, campaign_id, name)


def _first_recipient() -> Recipient:
    return Recipient(email="first.reader@example.org", first_name="First", last_name="Reader")


def _show_first_message(config: Config, compiled: CompiledIssue, name: str) -> None:
    sender = sender_for(config, compiled)
    frame = MessageFrame(
        compiled.templates, sender.from_name, sender.from_address, sender.list_id, reply_to=sender.reply_to
    )
    links = recipient_links(config.base_url, config.secret_key, "preview", compiled.issue.slug)
    stamped = frame.stamp(
        _first_recipient(), links, "<preview@" + sender.message_id_domain + ">", datetime.now(UTC)
    )
    head = stamped.raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    console.print("[dim]first message (for a sample reader):[/]")
    console.print(head, markup=False, soft_wrap=True)
    console.print("\n".join(stamped.mail.text.splitlines()[:12]), markup=False, soft_wrap=True)
    console.print(f"[dim]... {len(stamped.raw) / 1024:.1f} KB[/]")


def _send_tests(config: Config, compiled: CompiledIssue, name: str, addresses: list[str]) -> None:
    sender = sender_for(config, compiled)
    templates = compiled.templates
    test_templates = type(templates)(
        "[TEST] " + templates.subject_source, templates.html_source, templates.text_source
    )
    frame = MessageFrame(
        test_templates, sender.from_name, sender.from_address, sender.list_id, reply_to=sender.reply_to
    )
    way_out = build_transport(config, name)
    requires_public_links(config, way_out)
    outgoing = []
    for index, address in enumerate(addresses):
        links = recipient_links(config.base_url, config.secret_key, "test", compiled.issue.slug)
        message_id = f"<test.{int(time.time())}.{index}@{sender.message_id_domain}>"
        stamped = frame.stamp(Recipient(email=address), links, message_id, datetime.now(UTC))
        outgoing.append(
            OutgoingMessage(
                key=str(index),
                message_id=message_id,
                envelope_from=sender.from_address,
                recipient=address,
                raw=stamped.raw,
                from_header=frame.from_header,
                to_header=stamped.to_header,
                subject=stamped.subject,
                text=stamped.mail.text,
                html=stamped.mail.html,
                headers=(
                    ("List-Id", sender.list_id),
                    ("List-Unsubscribe", frame.list_unsubscribe(links)),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                ),
            )
        )
    with way_out:
        results = way_out.send(outgoing)
    for message, result in zip(outgoing, results, strict=True):
        colour = "green" if result.outcome.value == "sent" else "red"
        console.print(
            f"{message.recipient}: [{colour}]{result.outcome}[/] {result.code} {result.detail}".rstrip()
        )


def _run(config: Config, engine: sa.Engine, campaign_id: int, name: str) -> SendProgress:
    clock = SystemClock()
    way_out = build_transport(config, name)
    with (
        way_out,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn(
                "{task.completed}/{task.total} sent · {task.fields[failed]} failed · "
                "{task.fields[rate]:.0f}/s"
            ),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as bar,
    ):
        task = bar.add_task(f"campaign {campaign_id}", total=None, failed=0, rate=0.0)

        def report(progress: SendProgress) -> None:
            bar.update(
                task,
                total=progress.total,
                completed=progress.done,
                failed=progress.failed,
                rate=progress.rate,
            )

        runner = runner_for(config, engine, campaign_id, name, way_out, clock, report)
        progress = runner.run(wait_for_retries=False)
    _summary(engine, campaign_id, progress)
    return progress


def _summary(engine: sa.Engine, campaign_id: int, progress: SendProgress) -> None:
    with transaction(engine) as session:
        campaign = campaign_ops.get_campaign(session, campaign_id)
        counts = ledger.counts(session, campaign_id)
    shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    console.print(f"campaign {campaign_id} is {campaign.status}: {shown}")
    if campaign.pause_reason:
        console.print(f"[yellow]paused: {campaign.pause_reason}[/]")
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
    engine = database(config_for(root))
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
                        "created_at": c.created_at.isoformat(),
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
            f"{c.created_at:%Y-%m-%d %H:%M}",
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
    engine = database(config_for(root))
    with transaction(engine) as session:
        campaign = campaign_ops.get_campaign(session, campaign_id)
        counts = ledger.counts(session, campaign_id)
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
                    "counts": counts,
                    "reasons": [{"state": s, "reason": r, "count": n} for s, r, n in reasons],
                    "history": [{"at": e.at.isoformat(), "kind": e.kind, "detail": e.detail} for e in events],
                },
                indent=2,
            )
        )
        return
    console.print(
        f"campaign {campaign.id}: {campaign.issue_slug} · {campaign.status} · via {campaign.transport}"
    )
    if campaign.pause_reason:
        console.print(f"[yellow]paused: {campaign.pause_reason}[/]")
    console.print("  " + ", ".join(f"{state} {n}" for state, n in counts.items()))
    for state, reason, n in reasons:
        console.print(f"  {n:>6} {state}: {reason}", markup=False)
    for event in events:
        console.print(f"  {event.at:%Y-%m-%d %H:%M:%S} {event.kind} {event.detail}", markup=False)


def _change(campaign_id: int, root: Path | None, verb: str) -> tuple[Config, sa.Engine]:
    config = config_for(root)
    engine = database(config)
    clock = SystemClock()
    with transaction(engine) as session:
        if verb == "pause":
            campaign_ops.pause(session, campaign_id, "paused by an operator", clock)
            console.print(
                f"campaign {campaign_id} paused; `outreach campaigns resume {campaign_id}` continues"
            )
        elif verb == "cancel":
            skipped = campaign_ops.cancel(session, campaign_id, clock)
            console.print(f"campaign {campaign_id} cancelled; {skipped} recipients will not be sent")
        elif verb == "retry-failed":
            count = campaign_ops.retry_failed(session, campaign_id, clock)
            console.print(f"{count} recipients whose sending failed for transient reasons are queued again")
        elif verb == "resend-unknown":
            count = campaign_ops.resend_unknown(session, campaign_id, clock)
            console.print(f"{count} recipients of unknown fate are queued again")
        elif verb == "resume":
            campaign_ops.resume(session, campaign_id, clock)
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
    """Send every campaign in the 'sending' state; several workers may share one (PostgreSQL).

    Example: outreach worker --once
    """
    config = config_for(root)
    engine = database(config)
    clock = SystemClock()
    open_transports: dict[str, Transport] = {}
    try:
        while True:
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
