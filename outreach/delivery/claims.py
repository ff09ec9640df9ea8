"""A claimed ledger row as composing needs it: plain values, so a chunk of them crosses into a sending
process without bringing the ledger (SQLAlchemy, the audience layer) along. ``outreach.delivery.ledger``
makes them and re-exports the class."""

from __future__ import annotations

from dataclasses import dataclass

from outreach.models import Recipient


@dataclass(frozen=True, slots=True)
class Claimed:
    """A ledger row marked ``sending``, with what is needed to compose its message."""

    delivery_id: int
    subscriber_id: int
    message_id: str
    attempts: int
    recipient: Recipient
    edition: str = ""  # the language edition this recipient gets ('' for the campaign's default)
