"""A one-off letter to the people in a CSV, as every front end sends it: plan, then start.

``outreach send LETTER --recipients contacts.csv --consent "..."`` goes through the same send gate,
ledger, pacing and transports as a newsletter; only the recipients come from the file
(``outreach.delivery.one_off``). The plan is safe to make and says everything before anything is sent:
the rows left out (suppressed, unsubscribed, repeats, already sent) and the invalid rows, each with its
row number, and every ``{{ recipient.NAME }}`` the file has no column for, at its ``path:line``. A send
with invalid rows is refused unless the person says ``--skip-invalid``: fixing the file first is the
safe default, and nobody in it is silently left out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from jinja2 import nodes
from sqlalchemy.engine import Engine

from outreach.audience import transaction
from outreach.audience.audit import record
from outreach.audience.consent import Consent
from outreach.audience.contacts import BadRow, ContactList, read_contacts
from outreach.audience.schema import ConsentMethod
from outreach.clock import Clock, SystemClock
from outreach.config import Config
from outreach.content.placeholders import EXPRESSION
from outreach.delivery import ledger
from outreach.delivery.campaigns import Sender, sender_for
from outreach.delivery.one_off import ContactPlan, create_letter_campaign, plan_contacts
from outreach.delivery.tracking import tracking_for
from outreach.delivery.wiring import build_transport, pacing, requires_public_links
from outreach.errors import DeliveryError
from outreach.models import RECIPIENT_FIELDS, Actor, Issue, Recipient
from outreach.operations.gate import Clearance, Purpose, clear_through, reviewed_commit
from outreach.operations.sending import AudienceChanged, compose_one, sample_message
from outreach.render import CompiledIssue
from outreach.transports.base import OutgoingMessage

_PARSER = jinja2.Environment(autoescape=False)  # parses expressions only; nothing is compiled with it


@dataclass(frozen=True)
class LetterPlan:
    """What a one-off send would do: the gate's answer, the file's rows sorted, the transport."""

    clearance: Clearance
    contacts: ContactPlan
    unknown_fields: tuple[str, ...]  # "path:line: ..." for each recipient.NAME the file lacks
    transport: str
    backend: str
    rate: str
    concurrency: int
    skip_invalid: bool = False

    @property
    def compiled(self) -> CompiledIssue:
        return self.clearance.compiled

    @property
    def recipients(self) -> int:
        return self.contacts.recipients

    @property
    def invalid(self) -> tuple[BadRow, ...]:
        return self.contacts.contacts.invalid

    @property
    def refusals(self) -> tuple[str, ...]:
        """Every reason the letter may not go: the gate's, unknown fields, invalid rows (unless skipped)."""
        found = list(self.clearance.refusals) + list(self.unknown_fields)
        if self.invalid and not self.skip_invalid:
            name = self.contacts.contacts.name
            found.append(
                f"{len(self.invalid)} row(s) of {name} cannot be sent to (listed above): correct them, or "
                "add --skip-invalid to send to the valid rows only"
            )
        return tuple(found)


def recipient_names(issue: Issue) -> list[tuple[str, int]]:
    """Each ``recipient.NAME`` (or ``recipient['NAME']``) the letter uses, with its line."""
    expressions = [(p.expression, p.line) for p in issue.placeholders]
    subject_line = issue.line_of("subject") or 0
    expressions += [(e.strip(), subject_line) for e in EXPRESSION.findall(issue.subject)]
    found: list[tuple[str, int]] = []
    for expression, line in expressions:
        tree = _PARSER.parse("{{ " + expression + " }}")
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            if not (isinstance(node, nodes.Getattr | nodes.Getitem) and _is_recipient(node.node)):
                continue
            if isinstance(node, nodes.Getattr):
                found.append((node.attr, line))
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.append((node.arg.value, line))
    return found


def _is_recipient(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "recipient"


def unknown_fields(issue: Issue, contacts: ContactList) -> tuple[str, ...]:
    """``path:line`` errors for the letter's recipient fields that the file has no column for."""
    known = set(contacts.columns)
    where = str(issue.path or "")
    problems: list[str] = []
    for name, line in recipient_names(issue):
        if name in known:
            continue
        also = " (a subscriber field, but this file has no such column)" if name in RECIPIENT_FIELDS else ""
        at = f"{where}:{line}" if line else where
        problems.append(
            f"{at}: recipient.{name} is not a column of {contacts.name}{also}; its columns are "
            f"{', '.join(contacts.columns)}"
        )
    return tuple(dict.fromkeys(problems))


def plan_letter(
    config: Config,
    engine: Engine,
    path: Path,
    recipients: Path,
    *,
    purpose: Purpose = Purpose.PLAN,
    transport: str | None = None,
    send_now: bool = False,
    allow_uncommitted: bool = False,
    skip_invalid: bool = False,
    clock: Clock | None = None,
) -> LetterPlan:
    """Clear the letter for ``purpose``, read the contacts file and sort its rows."""
    clock = clock or SystemClock()
    name, backend, clearance = clear_through(
        path, config, purpose, clock.now(), transport, send_now=send_now, allow_uncommitted=allow_uncommitted
    )
    contacts = read_contacts(recipients)
    compiled = clearance.report.compiled
    problems = unknown_fields(compiled.issue, contacts) if compiled is not None else ()
    slug = compiled.issue.slug if compiled is not None else path.stem
    with transaction(engine) as session:
        sorted_rows = plan_contacts(session, contacts, slug)
    limits, concurrency = pacing(config, name)
    return LetterPlan(
        clearance=clearance,
        contacts=sorted_rows,
        unknown_fields=problems,
        transport=name,
        backend=backend,
        rate=limits.describe(),
        concurrency=concurrency,
        skip_invalid=skip_invalid,
    )


def letter_sender(config: Config, compiled: CompiledIssue) -> Sender:
    """The issue's or the site's sender. Replies go to the sender: the letter's ``reply_to``, else the
    person the letter is ``from`` (not the site's shared inbox), else the site's Reply-To or From."""
    sender, issue = sender_for(config, compiled), compiled.issue
    reply_to = issue.reply_to or issue.from_address or sender.reply_to or sender.from_address
    return replace(sender, reply_to=reply_to)


def first_letter(config: Config, planned: LetterPlan, now: datetime | None = None) -> OutgoingMessage:
    """The message the file's first recipient would get (the sample reader's if nobody is left)."""
    compiled = planned.compiled
    first = planned.contacts.to_send[0] if planned.contacts.to_send else None
    if first is None:
        return sample_message(config, compiled, now)
    recipient = Recipient(
        email=first.email,
        first_name=first.fields.get("first_name", ""),
        last_name=first.fields.get("last_name", ""),
        organisation=first.fields.get("organisation", ""),
        fields=tuple(first.fields.items()),
    )
    sender = letter_sender(config, compiled)
    return compose_one(config, compiled, recipient, now or datetime.now(UTC), sender=sender)


def start_letter(
    config: Config,
    engine: Engine,
    planned: LetterPlan,
    clock: Clock | None = None,
    *,
    consent: str,
    actor: Actor,
    add_to_topic: str | None = None,
    expected: int | None = None,
) -> int:
    """Create the campaign of a letter plan cleared for a real send; its id.

    ``consent`` says why we may write to these people (a legitimate interest: "Partner agencies of
    the 2026 winter gathering"); it is in the consent log with each contact, and the send in the
    audit log, both in the campaign's transaction. With ``expected`` (the number a person confirmed),
    a plan that now reaches another number is refused and nothing is created.
    """
    clock = clock or SystemClock()
    if planned.clearance.purpose is not Purpose.SEND:
        raise DeliveryError("only a plan made for sending can start a campaign")
    if not consent.strip():
        raise DeliveryError(
            'say why you may write to these people: --consent "Partner agencies we work with, 2026"'
        )
    refusals = planned.refusals
    if refusals:
        raise DeliveryError("the letter was not sent: " + "; ".join(refusals))
    compiled = planned.clearance.require()
    if expected is not None and planned.recipients != expected:
        raise AudienceChanged(expected, planned.recipients)
    requires_public_links(config, build_transport(config, planned.transport))
    contacts = planned.contacts.contacts
    source = f"{consent.strip()} (one-off letter {compiled.issue.slug}, {contacts.name})"
    with transaction(engine) as session:
        campaign, now_planned = create_letter_campaign(
            session,
            compiled,
            letter_sender(config, compiled),
            contacts,
            planned.transport,
            clock,
            consent=Consent(ConsentMethod.IMPORT, source=source, actor=actor.name),
            add_to_topic=add_to_topic,
            tracking=tracking_for(config),
            reviewed_commit=reviewed_commit(planned.clearance),
        )
        total = ledger.counts(session, campaign.id)["pending"]
        if expected is not None and total != expected:
            raise AudienceChanged(expected, total)  # rolls the campaign and the contacts back
        record(
            session,
            actor,
            "campaign.send",
            f"campaign {campaign.id}",
            clock,
            {
                "issue": compiled.issue.slug,
                "recipients": total,
                "contacts": str(contacts.path),
                "left_out": len(now_planned.left_out),
                "invalid_rows": [bad.row for bad in contacts.invalid],
                "consent": consent.strip(),
                "add_to_list": add_to_topic or "",
                "transport": planned.transport,
            },
        )
        return campaign.id
