"""Which message of ours an event is about, and whether it may change anybody.

Anyone can send mail to the bounce mailbox, so a mailed report (a DSN, an ARF complaint) is believed
only when it names a message by an identifier only this site can make: the VERP return path or the
Message-ID, each carrying a keyed MAC over (campaign, ledger row) (``outreach.tokens``). A provider's
webhook is authenticated before it gets here (a signature, a password, an allowed SNS topic), so its
own references are its word too: the ledger key we sent as metadata, our Message-ID as it saw it, and
the id it answered the send with. Either way the ledger row must exist and, when the event names the
person it is about, that person must be the row's recipient: a report about someone else is
recorded as unmatched and changes nobody. An address alone never names anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience import InvalidAddress, hash_of
from outreach.audience.schema import Subscriber
from outreach.delivery.schema import Delivery, DeliveryState
from outreach.events.model import Event
from outreach.tokens import Keys, read_message_id, read_return_path


class Trust(StrEnum):
    """What the channel an event came through vouches for."""

    MAILBOX = "mailbox"  # a report mailed to us: anyone could have written it
    PROVIDER = "provider"  # a provider's authenticated webhook: its references are its word


@dataclass(frozen=True, slots=True)
class Found:
    """The ledger row an event is about (no row: a test send of the campaign)."""

    delivery_id: int | None
    campaign_id: int
    subscriber_id: int
    state: DeliveryState


UNTIED = {
    Trust.MAILBOX: "it names no message of ours by a VERP return path or Message-ID that verifies",
    Trust.PROVIDER: "it names no message in the ledger",
}


def _row(session: Session, clause: sa.ColumnElement[bool]) -> tuple[Found, str] | None:
    row = session.execute(
        sa.select(
            Delivery.id, Delivery.campaign_id, Delivery.subscriber_id, Delivery.state, Subscriber.email_hash
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(clause)
        .limit(1)
    ).first()
    if row is None:
        return None
    return Found(row.id, row.campaign_id, row.subscriber_id, row.state), row.email_hash


def keyed_message(event: Event, keys: Keys) -> tuple[int, int] | None:
    """(campaign, ledger row) from a VERP return path or Message-ID whose MAC verifies."""
    for address in event.return_paths:
        found = read_return_path(keys, address)
        if found:
            return found
    return read_message_id(keys, event.message_id) if event.message_id else None


def _provider_row(session: Session, event: Event) -> tuple[Found, str] | None:
    """A provider's references, in order: our ledger key, our Message-ID, its own message id."""
    key = event.outreach_key.strip()
    if key.isdigit() and len(key) < 19:
        found = _row(session, Delivery.id == int(key))
        if found:
            return found
    if event.message_id:
        found = _row(session, Delivery.message_id == event.message_id[:250])
        if found:
            return found
    if event.provider_message_id:
        return _row(session, Delivery.provider_id == event.provider_message_id[:250])
    return None


def _same_person(recipient: str, row_hash: str) -> bool:
    try:
        return hash_of(recipient) == row_hash
    except InvalidAddress:
        return False


def identify(session: Session, event: Event, keys: Keys, trust: Trust) -> tuple[Found | None, str]:
    """The row the event is about, or None and why it is not tied to one."""
    keyed = keyed_message(event, keys)
    if keyed is not None:
        campaign_id, delivery_id = keyed
        found = _row(session, sa.and_(Delivery.id == delivery_id, Delivery.campaign_id == campaign_id))
        if found is None:
            return None, f"it names message {campaign_id}.{delivery_id}, which the ledger does not hold"
    elif trust is Trust.PROVIDER:
        found = _provider_row(session, event)
    else:
        found = None
    if found is None:
        return None, UNTIED[trust]
    row, row_hash = found
    if event.recipient and not _same_person(event.recipient, row_hash):
        return None, "it reports on another address than the recipient of the message it names"
    return row, ""
