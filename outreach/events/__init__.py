"""Events: what comes back after a send (bounces, complaints, unsubscribes, deliveries, clicks).

Providers' webhooks (``ses``, ``sendgrid``, ``postmark``, ``mailgun``) and the bounce mailbox (``dsn``,
``arf`` and ``mailto:`` unsubscribes, read by ``inbox``) are parsed into one closed vocabulary
(``model.Event``); ``identify`` ties each to a message we sent by an identifier nobody else can make,
and ``apply`` records each once in the ``events`` table and updates the ledger and the subscriber.
This stage sits above ``delivery``: it changes ledger rows. See docs/events.md.
"""

from outreach.events.apply import (
    Applied,
    Outcome,
    Trust,
    apply_event,
    apply_events,
    campaign_figures,
)
from outreach.events.model import (
    BadSignature,
    Event,
    EventError,
    EventKind,
    MalformedEvent,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "Applied",
    "BadSignature",
    "Event",
    "EventError",
    "EventKind",
    "MalformedEvent",
    "Outcome",
    "Trust",
    "Unauthenticated",
    "Unavailable",
    "apply_event",
    "apply_events",
    "campaign_figures",
]
