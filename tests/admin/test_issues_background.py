"""A send the admin app runs in the background stops cleanly when the app stops: the message in hand
is answered and recorded, nothing more is claimed, and the rest waits as ``pending`` (never
``sending`` or ``unknown``) for ``outreach worker`` or a resume."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine

from outreach.audience import transaction
from outreach.clock import FixedClock
from outreach.config import Config, load_config
from outreach.delivery import ledger
from outreach.delivery.schema import Campaign, CampaignStatus
from outreach.models import Actor
from outreach.operations import Purpose, plan_send, start_campaign
from outreach.operations.background import BackgroundSends
from tests.admin.test_issues import AUDIENCE, readers
from tests.conftest import TEST_SECRET
from tests.ports import free_port


class HeldSink:
    """An SMTP server that holds its first message until the test lets it go."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.received: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.arrived.set()
        self.release.wait(60)  # blocks this server's loop: one connection, on purpose
        self.received.extend(envelope.rcpt_tos)
        return "250 2.0.0 Ok"


@pytest.fixture
def sink() -> Iterator[tuple[HeldSink, int]]:
    handler = HeldSink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


def relay_config(project: Path, port: int) -> Config:
    """The project with an SMTP transport to the sink: one connection, two rows in flight at most."""
    toml = project / "outreach.toml"
    text = toml.read_text(encoding="utf-8").replace(
        '[delivery]\ntransport = "outbox"', '[delivery]\ntransport = "outbox"\nbatch_size = 2'
    )
    relay = f'\n[transports.relay]\nbackend = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
    toml.write_text(text + relay + "concurrency = 1\n", encoding="utf-8")
    return load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


def test_stopping_records_what_is_in_flight_and_leaves_the_rest_pending(
    project: Path,
    engine: Engine,
    clock: FixedClock,
    write_issue: Callable[..., Path],
    sink: tuple[HeldSink, int],
) -> None:
    handler, port = sink
    config = relay_config(project, port)
    issue = write_issue(name="2027-01-news.md", status="ready", audience=AUDIENCE)
    readers(project, engine, clock, *(f"reader{n}@example.org" for n in range(6)))
    planned = plan_send(config, engine, issue, purpose=Purpose.SEND, transport="relay", clock=clock)
    campaign_id = start_campaign(config, engine, planned, clock, actor=Actor("ada", "admin"))
    sends = BackgroundSends(config, engine, clock=clock)

    assert sends.start(campaign_id)
    assert not sends.start(campaign_id, "relay")  # one thread per campaign in this process
    assert handler.arrived.wait(60)
    stopping = threading.Thread(target=sends.stop, kwargs={"timeout": 60})
    stopping.start()
    sends.stopping.wait(60)
    handler.release.set()
    stopping.join(60)

    assert sends.sending() == []
    with transaction(engine) as session:
        counts = ledger.counts(session, campaign_id)
        status = session.get(Campaign, campaign_id).status  # type: ignore[union-attr]
    assert counts["sending"] == 0 and counts["unknown"] == 0
    assert counts["sent"] == len(handler.received) and 1 <= counts["sent"] <= 2  # at most the claims
    assert counts["pending"] == 6 - counts["sent"]
    assert status is CampaignStatus.SENDING  # not paused, not done: a worker or a resume goes on
    assert not sends.start(campaign_id)  # a stopping process starts nothing new
