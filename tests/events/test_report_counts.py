"""``outreach report`` counts every unsubscribe, bounce and complaint it can tie to the campaign.

The undercounts of the issue: unsubscribes through the mail's own links (one-click and the page) showed
as 0%, and addresses the receiving server refused while we sent (5.1.1 at RCPT) as "bounced 0%".
Now the unsubscribe link's token names its campaign and leaving through it is counted there, once
per person; refused addresses count as hard bounces, and a DSN for the same message afterwards does
not count it twice (both databases, through the real web app).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import SubscriberStatus, transaction
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.delivery.schema import Delivery, DeliveryState
from outreach.events import Event, EventKind, Trust, apply_events
from outreach.events.figures import CampaignReport, campaign_report
from outreach.tokens import Purpose, make_token, subject_ref
from outreach.transports.memory import MemoryTransport
from outreach.web.app import create_app
from tests.events.fixtures import KEYS, Ledger, Sent

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
CSRF = 'name="csrf" value="'


@pytest.fixture
def web(config: Config, engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(config, engine, MemoryTransport("memory"), clock)
    with TestClient(app, base_url="https://news.vaimh.example") as client:
        yield client


def _report(ledger: Ledger, campaign_id: int) -> CampaignReport:
    with transaction(ledger.engine) as session:
        return campaign_report(session, campaign_id)


def _link(config: Config, sent: Sent, campaign: int | None) -> str:
    reference = subject_ref(str(sent.subscriber_id), campaign)
    return f"/u/{make_token(config.secret_key, Purpose.UNSUBSCRIBE, reference)}"


def _leave_by_page(web: TestClient, url: str) -> None:
    page = web.get(url).text
    csrf = page.split(CSRF, 1)[1].split('"', 1)[0]
    assert web.post(f"{url}/leave", data={"csrf": csrf}).status_code == 200


def test_unsubscribes_through_the_mails_own_links_count_in_its_report(
    web: TestClient, config: Config, ledger: Ledger
) -> None:
    campaign = ledger.campaign()
    by_mail_client, by_page, stays = (
        ledger.send(campaign, f"{n}@example.org") for n in ("one", "two", "three")
    )
    assert web.post(_link(config, by_mail_client, campaign), data=ONE_CLICK).status_code == 200
    _leave_by_page(web, _link(config, by_page, campaign))
    assert web.post(_link(config, by_mail_client, campaign), data=ONE_CLICK).status_code == 200  # again

    report = _report(ledger, campaign)
    assert report.events["unsubscribed"] == 2  # each person once, however often they left
    assert report.rates()["unsubscribed"] == pytest.approx(2 / 3)
    assert ledger.status(by_page.email) is SubscriberStatus.UNSUBSCRIBED
    assert ledger.status(stays.email) is SubscriberStatus.ACTIVE


def test_a_link_without_a_campaign_unsubscribes_and_counts_nowhere(
    web: TestClient, config: Config, ledger: Ledger
) -> None:
    campaign = ledger.campaign()
    sent = ledger.send(campaign, "welcome@example.org")
    assert (
        web.post(_link(config, sent, None), data=ONE_CLICK).status_code == 200
    )  # a confirmation mail's link
    assert ledger.status(sent.email) is SubscriberStatus.UNSUBSCRIBED
    assert _report(ledger, campaign).events["unsubscribed"] == 0
    assert ledger.event_count() == 0


def _refused_while_sending(ledger: Ledger, sent: Sent) -> None:
    with transaction(ledger.engine) as session:
        session.execute(
            sa.update(Delivery)
            .where(Delivery.id == sent.delivery_id)
            .values(state=DeliveryState.FAILED, reason="bounced: 550 5.1.1 <x>: Recipient address rejected")
        )


def test_addresses_refused_while_sending_count_as_bounces_once(ledger: Ledger) -> None:
    campaign = ledger.campaign()
    refused, later, fine = (ledger.send(campaign, f"{n}@example.org") for n in ("refused", "later", "fine"))
    _refused_while_sending(ledger, refused)
    policy = ledger.send(campaign, "policy@example.org")
    with transaction(ledger.engine) as session:  # a refusal of the message, not the address
        session.execute(
            sa.update(Delivery)
            .where(Delivery.id == policy.delivery_id)
            .values(state=DeliveryState.FAILED, reason="rejected: 552 5.3.4 message too big")
        )
    report = _report(ledger, campaign)
    assert report.events["bounced_hard"] == 1 and report.refused == 1
    assert report.rates()["bounced"] == pytest.approx(1 / 3)  # of the 3 messages a server took or refused

    # A DSN (and a provider's event) about the refused message, and a soft then hard bounce of another.
    dsn = Event(EventKind.BOUNCED_HARD, "smtp", "dsn-1", ledger.clock.now(), message_id=refused.message_id)
    soft = Event(EventKind.BOUNCED_SOFT, "smtp", "dsn-2", ledger.clock.now(), message_id=later.message_id)
    hard = Event(EventKind.BOUNCED_HARD, "smtp", "dsn-3", ledger.clock.now(), message_id=later.message_id)
    with transaction(ledger.engine) as session:
        apply_events(session, [dsn, soft, hard], ledger.clock, keys=KEYS, trust=Trust.MAILBOX)
    after = _report(ledger, campaign)
    assert (after.events["bounced_hard"], after.events["bounced_soft"]) == (2, 0)
    assert ledger.status(fine.email) is SubscriberStatus.ACTIVE


def test_the_command_shows_refused_addresses_as_bounced(
    ledger: Ledger, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from outreach.cli import app

    campaign = ledger.campaign()
    refused = ledger.send(campaign, "refused@example.org")
    ledger.send(campaign, "fine@example.org")
    _refused_while_sending(ledger, refused)
    env = {
        "OUTREACH_DATABASE_URL": ledger.engine.url.render_as_string(hide_password=False),
        "OUTREACH_SECRET_KEY": config.secret_key,
        "COLUMNS": "200",
    }
    shown = CliRunner().invoke(app, ["report", str(campaign), "--root", str(config.root)], env=env)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "1 failed (1 refused as bounced while sending)" in text
    assert "bounced 1 50.00% of sent (1 hard, 0 soft)" in text
