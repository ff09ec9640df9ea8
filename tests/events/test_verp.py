"""VERP: with ``[events] return_path`` set, each message goes out from its own keyed return path.

A real campaign through the configured SMTP transport into an aiosmtpd server on 127.0.0.1 that records
each MAIL FROM; then the bounce a receiving server would send to that address is processed from the
bounce mailbox and suppresses exactly that recipient. Without the setting the envelope sender stays
the From address (both databases).
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine

from outreach.audience import Consent, ConsentMethod, SubscriberStatus, add_subscriber, transaction
from outreach.audience.topics import load_topics, sync_topics
from outreach.clock import FixedClock
from outreach.config import Config, load_config
from outreach.content import read_issue
from outreach.delivery.campaigns import Sender, create_campaign
from outreach.delivery.wiring import build_transport, runner_for
from outreach.events.inbox import process
from outreach.models import Audience
from outreach.render import render_issue
from outreach.tokens import read_return_path
from tests.conftest import REPO, TEST_SECRET
from tests.events.fixtures import Ledger
from tests.events.signing import mail
from tests.ports import free_port

TOPIC = "monthly-newsletter"


@dataclass
class Recorder:
    """Accepts everything and records (MAIL FROM, RCPT TO) of each message."""

    envelopes: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        for recipient in envelope.rcpt_tos:
            self.envelopes.append((str(envelope.mail_from), recipient))
        return "250 2.0.0 Ok: queued"


@pytest.fixture
def relay() -> Iterator[tuple[Recorder, int]]:
    recorder, port = Recorder(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def _config(project: Path, port: int, return_path: str) -> Config:
    settings = (project / "outreach.toml").read_text(encoding="utf-8")
    settings += (
        f'\n[transports.relay]\nbackend = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
    )
    if return_path:
        settings += f'\n[events]\nreturn_path = "{return_path}"\n'
    (project / "outreach.toml").write_text(settings, encoding="utf-8")
    return load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


def _send(config: Config, engine: Engine, clock: FixedClock, write_issue: object, people: list[str]) -> int:
    with transaction(engine) as session:
        sync_topics(session, load_topics(REPO / "lists" / "topics.yaml"))
        for address in people:
            add_subscriber(
                session,
                address,
                consent=Consent(ConsentMethod.ADMIN, source="test"),
                clock=clock,
                topics=[TOPIC],
            )
    path = write_issue("Dear friend, hello.\n")  # type: ignore[operator]
    compiled = render_issue(read_issue(path, config.time_zone), config)
    sender = Sender("VAIMH News", "news@vaimh.example", "", config.sender.list_id, "vaimh.example")
    with transaction(engine) as session:
        campaign = create_campaign(session, compiled, sender, Audience(topics=(TOPIC,)), {}, "relay", clock)
        campaign_id = campaign.id
    transport = build_transport(config, "relay")
    with transport:
        runner_for(config, engine, campaign_id, "relay", transport, clock).run(wait_for_retries=False)
    return campaign_id


def test_each_message_has_its_own_return_path_and_its_bounce_names_it(
    project: Path,
    engine: Engine,
    clock: FixedClock,
    ledger: Ledger,
    relay: tuple[Recorder, int],
    write_issue: object,
    tmp_path: Path,
) -> None:
    recorder, port = relay
    config = _config(project, port, "bounces@vaimh.example")
    people = ["ana@example.org", "ben@example.org", "cam@example.org"]
    campaign_id = _send(config, engine, clock, write_issue, people)

    senders = dict((recipient, sender) for sender, recipient in recorder.envelopes)
    assert sorted(senders) == people
    assert len(set(senders.values())) == 3  # one return path per message
    for sender in senders.values():
        assert sender.startswith("bounces+") and sender.endswith("@vaimh.example")
        found = read_return_path(config.accepted_keys, sender)
        assert found is not None and found[0] == campaign_id

    box = mailbox.Maildir(tmp_path / "Bounces", create=True)
    box.add(
        mail("postfix_hard_5.1.1.eml", email="ben@example.org", verp=senders["ben@example.org"], msgid="x@y")
    )
    box.close()
    report = process(engine, tmp_path / "Bounces", clock, keys=config.accepted_keys)
    assert report.unmatched == [] and report.kinds["bounced_hard"] == 1
    assert [ledger.status(p) for p in people] == [
        SubscriberStatus.ACTIVE,
        SubscriberStatus.BOUNCED,
        SubscriberStatus.ACTIVE,
    ]


def test_without_a_bounce_mailbox_the_envelope_sender_is_the_from_address(
    project: Path, engine: Engine, clock: FixedClock, relay: tuple[Recorder, int], write_issue: object
) -> None:
    recorder, port = relay
    config = _config(project, port, "")
    _send(config, engine, clock, write_issue, ["ana@example.org"])
    assert recorder.envelopes == [("news@vaimh.example", "ana@example.org")]


@pytest.mark.parametrize(
    "value", ["bounces+x@vaimh.example", "no-at-sign", "Bounces <bounces@vaimh.example>"]
)
def test_a_return_path_that_cannot_carry_verp_is_refused_by_name(project: Path, value: str) -> None:
    from outreach.errors import ConfigError

    (project / "outreach.toml").write_text(
        (project / "outreach.toml").read_text() + f'\n[events]\nreturn_path = "{value}"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"events.return_path"):
        load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


def test_removed_event_settings_say_what_to_do(project: Path) -> None:
    from outreach.errors import ConfigError

    (project / "outreach.toml").write_text(
        (project / "outreach.toml").read_text() + "\n[events]\nsoft_bounce_limit = 3\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="never suppress anyone; delete that line"):
        load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


@pytest.mark.parametrize(
    "message_id",
    [
        "keyed",  # the ledger's keyed Message-ID: its MAC is reused
        "<7.42.a1b2c3d4e5f6@vaimh.example>",  # a random token: the MAC is made
        "<7.43.{mac}@vaimh.example>",  # another row's id: never borrowed
        "<8.42.{mac}@vaimh.example>",  # another campaign's
        "<7.42.{mac}x@vaimh.example>",  # not exactly 16 characters
        "",
    ],
)
def test_the_verp_address_is_the_one_tokens_makes_whatever_the_message_id(message_id: str) -> None:
    from outreach.delivery.outgoing import CampaignContent, CampaignMessages
    from outreach.tokens import message_id as keyed_message_id
    from outreach.tokens import message_mac, return_path

    content = CampaignContent(
        7, "slug", "s", "<p>h</p>", "t", "VAIMH News", "news@vaimh.example", "", "L <l.x>", "b@x.example"
    )
    messages = CampaignMessages(content, "https://news.vaimh.example", TEST_SECRET)
    written = (
        keyed_message_id(TEST_SECRET, 7, 42, "vaimh.example")
        if message_id == "keyed"
        else message_id.format(mac=message_mac(TEST_SECRET, 8, 43))
    )
    assert messages.envelope_from(42, written) == return_path(TEST_SECRET, "b@x.example", 7, 42)
