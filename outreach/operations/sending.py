"""Sending an issue, as every front end does it: plan, test copy, start, run.

The CLI (``outreach send``), the admin app and the demo call these; none of them composes a message,
builds a campaign or skips the gate on its own. A plan is always safe to make (it sends nothing and
says everything the gate would refuse); ``start_campaign`` accepts only a plan the gate cleared for a
real send.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from outreach.audience import Segment, transaction
from outreach.audience.audit import record
from outreach.audience.site_segments import sending_segments
from outreach.clock import Clock, SystemClock
from outreach.config import Config
from outreach.delivery import ledger
from outreach.delivery.campaigns import (
    Plan,
    Sender,
    archivable,
    choice_of,
    create_campaign,
    plan,
    sender_for,
)
from outreach.delivery.ledger import Claimed
from outreach.delivery.outgoing import CampaignContent, CampaignMessages
from outreach.delivery.runner import Progress, Report
from outreach.delivery.tracking import tracking_for
from outreach.delivery.wiring import build_transport, pacing, requires_public_links, runner_for, signer
from outreach.errors import DeliveryError
from outreach.models import Actor, Audience, Recipient
from outreach.operations.gate import Clearance, Purpose, clear, clear_through, reviewed_commit
from outreach.render import CompiledIssue
from outreach.render.sample import SAMPLE_RECIPIENT
from outreach.transports.base import OutgoingMessage, SendResult

TEST_PREFIX = "[TEST] "


@dataclass(frozen=True)
class SendPlan:
    """What a send would do: who gets it and who is left out (and why), through what, how fast, when."""

    clearance: Clearance
    audience: Audience
    plan: Plan
    segments: dict[str, Segment]
    transport: str
    backend: str
    rate: str
    concurrency: int
    limit: int | None = None

    @property
    def compiled(self) -> CompiledIssue:
        return self.clearance.compiled

    @property
    def recipients(self) -> int:
        return self.plan.recipients

    @property
    def editions(self) -> dict[str, int]:
        """Recipients per language edition, the default first (one entry for a one-language issue)."""
        return self.plan.editions


def plan_send(
    config: Config,
    engine: Engine,
    path: Path,
    *,
    purpose: Purpose = Purpose.PLAN,
    audience: Audience | None = None,
    transport: str | None = None,
    limit: int | None = None,
    send_now: bool = False,
    allow_uncommitted: bool = False,
    clock: Clock | None = None,
) -> SendPlan:
    """Clear the issue for ``purpose`` and count its audience (the issue's own unless one is given)."""
    clock = clock or SystemClock()
    name, backend, clearance = clear_through(
        path, config, purpose, clock.now(), transport, send_now=send_now, allow_uncommitted=allow_uncommitted
    )
    compiled = clearance.compiled
    wanted = audience if audience is not None and not audience.is_empty else compiled.issue.audience
    with transaction(engine) as session:
        segments = sending_segments(session, config)
        editions = choice_of(compiled, clearance.editions[1:])
        counted = plan(session, wanted, segments, clock.now().date(), compiled.issue.slug, limit, editions)
    limits, concurrency = pacing(config, name)
    return SendPlan(
        clearance=clearance,
        audience=wanted,
        plan=counted,
        segments=segments,
        transport=name,
        backend=backend,
        rate=limits.describe(),
        concurrency=concurrency,
        limit=limit,
    )


class AudienceChanged(DeliveryError):
    """The audience is no longer the size the person confirmed; nothing was sent."""

    def __init__(self, confirmed: int, now: int) -> None:
        self.confirmed = confirmed
        self.now = now
        super().__init__(
            f"the audience changed since the plan was made: it is {now:,} people now, not the "
            f"{confirmed:,} confirmed; nothing was sent. Look at the plan again and confirm the new number"
        )


def start_campaign(
    config: Config,
    engine: Engine,
    planned: SendPlan,
    clock: Clock | None = None,
    *,
    actor: Actor,
    expected: int | None = None,
) -> int:
    """Create the campaign of a plan cleared for a real send and snapshot its audience; its id.

    ``actor`` is written to the audit log in the same transaction. With ``expected`` (the number a
    person confirmed), a snapshot of any other size is refused and nothing is created: the number
    someone agreed to is the number that gets it.
    """
    clock = clock or SystemClock()
    if planned.clearance.purpose is not Purpose.SEND:
        raise DeliveryError("only a plan made for sending can start a campaign")
    compiled = planned.clearance.require()
    if expected is not None and planned.recipients != expected:
        raise AudienceChanged(expected, planned.recipients)
    if planned.recipients == 0:
        raise DeliveryError("nobody to send to: the audience is empty after exclusions")
    requires_public_links(config, build_transport(config, planned.transport))
    with transaction(engine) as session:
        campaign = create_campaign(
            session,
            compiled,
            sender_for(config, compiled),
            planned.audience,
            planned.segments,
            planned.transport,
            clock,
            limit=planned.limit,
            tracking=tracking_for(config),
            archive=archivable(compiled.issue, planned.limit),
            reviewed_commit=reviewed_commit(planned.clearance),
            editions=planned.clearance.editions[1:],
        )
        total = ledger.counts(session, campaign.id)["pending"]
        if expected is not None and total != expected:
            raise AudienceChanged(expected, total)  # rolls the campaign back
        record(
            session,
            actor,
            "campaign.send",
            f"campaign {campaign.id}",
            clock,
            {
                "issue": compiled.issue.slug,
                "recipients": total,
                "transport": planned.transport,
                "editions": list(choice_of(compiled, planned.clearance.editions[1:]).languages),
            },
        )
        return campaign.id


def run_campaign(
    config: Config,
    engine: Engine,
    campaign_id: int,
    transport: str,
    report: Report | None = None,
    clock: Clock | None = None,
) -> Progress:
    """Send a campaign's pending rows until none is due (retries that are not due yet wait)."""
    clock = clock or SystemClock()
    with build_transport(config, transport) as way_out:
        runner = runner_for(config, engine, campaign_id, transport, way_out, clock, report)
        return runner.run(wait_for_retries=False)


# --- test copies and the sample message ------------------------------------------------------------


@dataclass(frozen=True)
class TestCopy:
    """Where one [TEST] copy went and what the transport said."""

    address: str
    result: SendResult
    edition: str = ""  # the language of the edition this copy is of ('' for a one-language issue)


def campaign_content(
    config: Config, compiled: CompiledIssue, subject_prefix: str = "", sender: Sender | None = None
) -> CampaignContent:
    """The campaign-level values a message is composed from, before any campaign exists."""
    sender = sender or sender_for(config, compiled)
    templates = compiled.templates
    return CampaignContent(
        0,
        compiled.issue.slug,
        subject_prefix + templates.subject_source,
        templates.html_source,
        templates.text_source,
        sender.from_name,
        sender.from_address,
        sender.reply_to,
        sender.list_id,
    )


def compose_one(
    config: Config,
    compiled: CompiledIssue,
    recipient: Recipient,
    now: datetime,
    *,
    subject_prefix: str = "",
    key: str = "0",
    sender: Sender | None = None,
) -> OutgoingMessage:
    """One message exactly as a campaign composes it (frame, links, mailto unsubscribe, DKIM)."""
    messages = CampaignMessages(
        campaign_content(config, compiled, subject_prefix, sender),
        config.base_url,
        config.secret_key,
        signer(config),
        unsubscribe_mailto=config.sender.unsubscribe_mailto,
    )
    domain = config.sender.message_id_domain
    message_id = f"<test.{int(now.timestamp())}.{key}@{domain}>"
    claimed = Claimed(int(key) if key.isdigit() else 0, 0, message_id, 1, recipient)
    return messages.compose(claimed, now)


def send_test_copies(
    config: Config,
    path: Path,
    addresses: Sequence[str],
    transport: str | None = None,
    clock: Clock | None = None,
    *,
    engine: Engine,
    actor: Actor,
    edition: str | None = None,
) -> list[TestCopy]:
    """[TEST] copies of the real message to staff; drafts are fine, errors are not.

    An issue in several languages sends a copy of each edition to each address (``edition`` names
    one, e.g. ``es``, for that edition alone); a copy of an edition other than the default says its
    language in the subject (``[TEST es]``). Who asked for them, for which addresses and what the
    transport said is written to the audit log.
    """
    clock = clock or SystemClock()
    clearance = clear(path, config, Purpose.TEST, clock.now())
    clearance.require()
    chosen = pick_editions(clearance.editions, edition)
    name = transport or config.settings.delivery.transport
    way_out = build_transport(config, name)
    requires_public_links(config, way_out)
    now = clock.now()
    default = clearance.editions[0].issue.language
    outgoing: list[tuple[str, OutgoingMessage]] = []
    for compiled in chosen:
        language = compiled.issue.language
        prefix = TEST_PREFIX if language == default else f"[TEST {language}] "
        for address in addresses:
            message = compose_one(
                config, compiled, Recipient(email=address), now, subject_prefix=prefix, key=str(len(outgoing))
            )
            outgoing.append((language, message))
    with way_out:
        results = way_out.send([message for _, message in outgoing])
    several = len(clearance.editions) > 1  # a one-language issue's copies need no edition named
    copies = [
        TestCopy(m.recipient, r, language if several else "")
        for (language, m), r in zip(outgoing, results, strict=True)
    ]
    compiled = clearance.editions[0]
    with transaction(engine) as session:
        record(
            session,
            actor,
            "issue.test-copy",
            f"issue {compiled.issue.slug}",
            clock,
            {
                "to": [copy.address for copy in copies],
                "outcomes": [str(copy.result.outcome) for copy in copies],
                "editions": [copy.edition for copy in copies],
                "transport": name,
            },
        )
    return copies


def pick_editions(editions: Sequence[CompiledIssue], language: str | None) -> list[CompiledIssue]:
    """All ``editions``, or the one in ``language``; an error listing them for a language not written."""
    if not language:
        return list(editions)
    wanted = language.strip().lower().replace("_", "-")
    found = [e for e in editions if e.issue.language.lower() == wanted]
    if not found:
        written = ", ".join(e.issue.language for e in editions)
        raise DeliveryError(f"this issue has no {language!r} edition; it is written in {written}")
    return found


def sample_message(config: Config, compiled: CompiledIssue, now: datetime | None = None) -> OutgoingMessage:
    """The message the sample reader would get, for the plan and the preview."""
    return compose_one(config, compiled, SAMPLE_RECIPIENT, now or datetime.now(UTC))
