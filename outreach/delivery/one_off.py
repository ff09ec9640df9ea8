"""A one-off letter's recipients: the rows of a contacts file instead of topics and segments.

The plan says, before anything is sent, who of the file gets the letter and who is left out, row by
row: suppressed addresses, people who unsubscribed, bounced or complained, repeats within the file,
and anyone who already has (or may have) this letter from an earlier send. The campaign is then an
ordinary campaign: one ledger row per contact, each carrying the contact's columns (``fields``) so a
resume personalises exactly as planned, and the same claim, pacing, transports and unsubscribe links
as a newsletter. Sending the same letter to the same file twice reaches nobody twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.consent import Consent
from outreach.audience.contacts import Contact, ContactList, LeftOut, save_contacts, standing
from outreach.audience.schema import Subscriber
from outreach.clock import Clock
from outreach.delivery.campaigns import Sender, create_campaign
from outreach.delivery.schema import Campaign, Delivery, DeliveryState
from outreach.delivery.tracking import ClickTracking
from outreach.errors import DeliveryError
from outreach.models import Audience
from outreach.render import CompiledIssue

ALREADY = "already sent this letter"
_HAS_IT = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.SENT, DeliveryState.UNKNOWN)


@dataclass(frozen=True)
class ContactPlan:
    """Who of a contacts file gets the letter, who is left out (and why), which rows are invalid."""

    contacts: ContactList
    to_send: tuple[Contact, ...]
    left_out: tuple[LeftOut, ...]

    @property
    def recipients(self) -> int:
        return len(self.to_send)

    @property
    def excluded(self) -> dict[str, int]:
        """How many were left out for each reason ("listed twice" reasons counted as one)."""
        return dict(Counter(_kind(left.why) for left in self.left_out))


def _kind(why: str) -> str:
    return "listed twice" if why.startswith("listed twice") else why


def already_have(session: Session, slug: str, hashes: list[str]) -> set[str]:
    """Of these address hashes, the ones with a ledger row of this letter that is (or may be) sent."""
    found: set[str] = set()
    for start in range(0, len(hashes), 500):
        found.update(
            session.scalars(
                sa.select(Subscriber.email_hash)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .where(
                    Campaign.issue_slug == slug,
                    Delivery.state.in_(_HAS_IT),
                    Subscriber.email_hash.in_(hashes[start : start + 500]),
                )
            )
        )
    return found


def plan_contacts(session: Session, contacts: ContactList, slug: str) -> ContactPlan:
    """Sort the file's valid rows into those to write to and those left out, with the reason."""
    found = standing(session, contacts.contacts)
    sent = already_have(session, slug, sorted({c.email_hash for c in contacts.contacts}))
    to_send: list[Contact] = []
    left_out: list[LeftOut] = list(contacts.repeats)
    for contact in contacts.contacts:
        why = found.why_not(contact) or (ALREADY if contact.email_hash in sent else "")
        if why:
            left_out.append(LeftOut(contact.row, contact.email, why))
        else:
            to_send.append(contact)
    left_out.sort(key=lambda left: left.row)
    return ContactPlan(contacts, tuple(to_send), tuple(left_out))


def create_letter_campaign(
    session: Session,
    compiled: CompiledIssue,
    sender: Sender,
    contacts: ContactList,
    transport: str,
    clock: Clock,
    *,
    consent: Consent,
    add_to_topic: str | None = None,
    tracking: ClickTracking | None = None,
    reviewed_commit: str = "",
) -> tuple[Campaign, ContactPlan]:
    """Plan again in this transaction, save the contacts and create the campaign with one ledger row
    each (never archived: a letter is not a newsletter issue). Raises DeliveryError when nobody is left."""
    planned = plan_contacts(session, contacts, compiled.issue.slug)
    if not planned.to_send:
        raise DeliveryError(
            f"nobody in {contacts.name} to send {compiled.issue.slug} to: every row is left out "
            "(see the plan without --yes)"
        )
    ids = save_contacts(session, planned.to_send, consent=consent, clock=clock, add_to_topic=add_to_topic)
    rows = [(ids[c.email], c.fields) for c in planned.to_send]
    campaign = create_campaign(
        session,
        compiled,
        sender,
        Audience(),
        {},
        transport,
        clock,
        tracking=tracking,
        reviewed_commit=reviewed_commit,
        archive=False,
        recipients=rows,
        contacts_file=str(contacts.path),
    )
    return campaign, planned
