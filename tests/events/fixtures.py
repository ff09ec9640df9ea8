"""Database fixtures for the events tests, on SQLite and (when asked) PostgreSQL, and a small ledger.

The backend approach is the audience tests' (tests/audience/conftest.py): PostgreSQL runs when
``OUTREACH_TEST_DATABASE_URL`` is set, each test in a fresh schema chosen by ``search_path`` in the URL.
This is a plain module so tests/web/test_webhooks.py can import the same fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience import (
    Consent,
    ConsentMethod,
    SubscriberStatus,
    add_subscriber,
    is_suppressed,
    transaction,
)
from outreach.audience.db import _alembic_config
from outreach.audience.schema import Subscriber
from outreach.clock import FixedClock
from outreach.delivery.schema import Campaign, CampaignStatus, Delivery, DeliveryState
from outreach.events.schema import EventRecord
from outreach.tokens import message_id, return_path
from tests.conftest import TEST_SECRET
from tests.databases import (  # noqa: F401 - fixtures: sqlite_template, backend, engine, database_url
    backend_fixture,
    database_url_fixture,
    engine_fixture,
    sqlite_template_fixture,
)
from tests.events.signing import BOUNCES, NOW

KEYS = (TEST_SECRET,)
"""The site's accepted keys in these tests: they sign every Message-ID and VERP address made here."""


def migrate(engine: Engine) -> None:
    """Apply every migration (``heads``: harmless with one chain, and robust while a branch is open)."""
    from alembic import command

    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


@pytest.fixture(name="clock")
def clock_fixture() -> FixedClock:
    return FixedClock(NOW)


@dataclass(frozen=True)
class Sent:
    """One ledger row, as a provider's event or a bounce would refer to it: its keyed Message-ID
    and VERP return path are the ones the site makes (``outreach.tokens``)."""

    campaign_id: int
    delivery_id: int
    subscriber_id: int
    email: str
    message_id: str
    provider_id: str

    @property
    def verp(self) -> str:
        return return_path(TEST_SECRET, BOUNCES, self.campaign_id, self.delivery_id)

    @property
    def values(self) -> dict[str, str]:
        """Placeholders for tests.events.signing.payload() and the mail corpus."""
        return {
            "email": self.email,
            "key": str(self.delivery_id),
            "msgid": self.message_id.strip("<>"),
            "provider_id": self.provider_id,
            "verp": self.verp,
        }


class Ledger:
    """Builds campaigns and sent rows, and reads back what events did to them."""

    def __init__(self, engine: Engine, clock: FixedClock) -> None:
        self.engine = engine
        self.clock = clock

    def campaign(self) -> int:
        with transaction(self.engine) as session:
            campaign = Campaign(
                issue_slug="2026-12-winter-notes",
                subject="Winter notes from VAIMH",
                status=CampaignStatus.DONE,
                audience={},
                transport="outbox",
                subject_source="Winter notes",
                html_source="<p>Hi</p>",
                text_source="Hi",
                from_name="VAIMH News",
                from_address="news@vaimh.example",
                list_id="VAIMH News <news.vaimh.example>",
                message_id_domain="vaimh.example",
                created_at=self.clock.now(),
            )
            session.add(campaign)
            session.flush()
            return campaign.id

    def send(
        self, campaign_id: int, email: str, state: DeliveryState = DeliveryState.SENT, provider_id: str = ""
    ) -> Sent:
        with transaction(self.engine) as session:
            subscriber = session.scalars(sa.select(Subscriber).where(Subscriber.email == email)).one_or_none()
            if subscriber is None:
                subscriber = add_subscriber(
                    session, email, consent=Consent(ConsentMethod.IMPORT, source="test"), clock=self.clock
                )
            delivery = Delivery(
                campaign_id=campaign_id,
                subscriber_id=subscriber.id,
                state=state,
                reason="",
                provider_id="",
                attempts=1,
                claimed_by="",
            )
            session.add(delivery)
            session.flush()
            delivery.message_id = message_id(TEST_SECRET, campaign_id, delivery.id, "vaimh.example")
            delivery.provider_id = provider_id or f"prov-{campaign_id}-{delivery.id}"
            return Sent(
                campaign_id, delivery.id, subscriber.id, email, delivery.message_id, delivery.provider_id
            )

    def status(self, email: str) -> SubscriberStatus:
        with transaction(self.engine) as session:
            subscriber = session.scalars(sa.select(Subscriber).where(Subscriber.email == email)).one()
            return subscriber.status

    def suppressed(self, email: str) -> bool:
        with transaction(self.engine) as session:
            return is_suppressed(session, email)

    def delivery(self, delivery_id: int) -> tuple[DeliveryState, str]:
        with transaction(self.engine) as session:
            row = session.execute(
                sa.select(Delivery.state, Delivery.reason).where(Delivery.id == delivery_id)
            ).one()
            return row.state, row.reason

    def event_count(self) -> int:
        with transaction(self.engine) as session:
            return int(session.scalar(sa.select(sa.func.count()).select_from(EventRecord)) or 0)

    def consent_count(self) -> int:
        with transaction(self.engine) as session:
            return int(session.scalar(sa.text("SELECT count(*) FROM consent_events")) or 0)


@pytest.fixture(name="ledger")
def ledger_fixture(engine: Engine, clock: FixedClock) -> Ledger:
    return Ledger(engine, clock)
