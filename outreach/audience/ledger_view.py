"""Read-only views of the campaigns, the delivery ledger and the events, for the audience's questions.

The delivery and events stages sit above the audience and own these tables, so the audience cannot
import their classes; yet two of its questions are about them: segment rules on engagement ("received
the March issue", "clicked a link in it") and a person's copy of everything held about them. These
table clauses name only the columns read here, with their types; tests/audience/test_ledger_view.py
checks them against the real tables, so a renamed column fails a test rather than a query. Nothing
here writes.
"""

from __future__ import annotations

import sqlalchemy as sa

from outreach.audience.schema import BigId, JsonDocument

# The words those tables store (delivery.schema.DeliveryState.SENT, events.model.EventKind.CLICKED).
SENT = "sent"
CLICKED = "clicked"

campaigns = sa.table(
    "campaigns",
    sa.column("id", BigId),
    sa.column("issue_slug", sa.String()),
    sa.column("subject", sa.Text()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)

deliveries = sa.table(
    "deliveries",
    sa.column("id", BigId),
    sa.column("campaign_id", BigId),
    sa.column("subscriber_id", BigId),
    sa.column("state", sa.String()),
    sa.column("reason", sa.Text()),
    sa.column("message_id", sa.String()),
    sa.column("attempts", sa.Integer()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("fields", sa.JSON()),  # a one-off letter's columns from the contacts file
)

events = sa.table(
    "events",
    sa.column("id", BigId),
    sa.column("provider", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("campaign_id", BigId),
    sa.column("subscriber_id", BigId),
    sa.column("occurred_at", sa.DateTime(timezone=True)),
    sa.column("detail", sa.Text()),
    sa.column("raw", JsonDocument),
)


def campaigns_called(name: str) -> sa.Select[tuple[int]]:
    """The ids of the campaigns a rule names: by issue slug, or by id when the name is a number."""
    match = campaigns.c.issue_slug == name
    if name.isdigit():
        match = sa.or_(match, campaigns.c.id == int(name))
    return sa.select(campaigns.c.id).where(match)


def received(name: str) -> sa.Select[tuple[int]]:
    """Subscriber ids whose ledger row for the named campaign was sent."""
    return sa.select(deliveries.c.subscriber_id).where(
        deliveries.c.campaign_id.in_(campaigns_called(name)), deliveries.c.state == SENT
    )


def clicked(name: str) -> sa.Select[tuple[int]]:
    """Subscriber ids with a click event (reported by the sending provider) in the named campaign."""
    return sa.select(events.c.subscriber_id).where(
        events.c.campaign_id.in_(campaigns_called(name)),
        events.c.kind == CLICKED,
        events.c.subscriber_id.is_not(None),
    )
