"""Events: what comes back after a send (bounces, complaints, unsubscribes, deliveries, clicks).

Providers' webhooks (``ses``, ``sendgrid``, ``postmark``, ``mailgun``) and bounce mailboxes (``dsn``,
``arf``, read by ``inbox``) are parsed into one closed vocabulary (``model.Event``), then ``apply``
records each once in the ``events`` table and updates the ledger and the subscriber. This stage sits
above ``delivery``: it changes ledger rows. See docs/events.md.
"""

from outreach.events.apply import (
    SOFT_BOUNCE_LIMIT,
    Applied,
    Outcome,
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
    "SOFT_BOUNCE_LIMIT",
    "Applied",
    "BadSignature",
    "Event",
    "EventError",
    "EventKind",
    "MalformedEvent",
    "Outcome",
    "Unauthenticated",
    "Unavailable",
    "apply_event",
    "apply_events",
    "campaign_figures",
]
