"""A campaign with non-ASCII names, subject and text goes through SMTP to a relay that does not offer
8BITMIME and to one that does: every message is 7-bit, asks for no BODY=8BITMIME, arrives as it
was signed (DKIM verifies on the relay's copy) and decodes to the same words.

The strict relay is aiosmtpd with 8BITMIME taken out of its EHLO answer; like Postfix with
``smtpd_discard_ehlo_keywords = 8bitmime`` in front of a strict MTA, it refuses the BODY=8BITMIME
parameter it never offered and 8-bit bytes in the data.
"""

from __future__ import annotations

import base64
import email
import email.policy
import html
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from outreach.config import Config
from outreach.content import read_issue
from outreach.delivery.dkim import dkim_signer
from outreach.delivery.pacing import Pace, RateLimits
from outreach.delivery.runner import CampaignRunner, RunSettings
from outreach.render import CompiledIssue, render_issue
from outreach.transports.smtp import SmtpSettings, SmtpTransport
from tests.delivery.conftest import BASE_URL, SECRET, Bench
from tests.ports import free_port

DOMAIN = "vaimh.example"
SELECTOR = "news"
ISSUE = """---
subject: "Für {{ subscriber.first_name | default('alle') }}: «Winter» notes ☃"
date: 2026-12-01
audience:
  topics: [monthly-newsletter]
---
Liebe {{ subscriber.first_name | default("Freunde") }}, the café is open — Ω and “quotes”.

Reflective supervision groups meet on the second Tuesday of every month in Richmond.
"""
READERS = {
    "renee@example.org": "Renée",
    "jose@example.org": "José Núñez",
    "smile@example.org": "Zoë 😀",
    "plain@example.org": "Ada",
}


@dataclass
class Relay:
    """Records each message; without 8BITMIME it refuses what a strict relay refuses."""

    offers_8bitmime: bool
    received: list[tuple[str, bytes, list[str]]] = field(default_factory=list)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.offers_8bitmime:
            return responses
        return [line for line in responses if "8BITMIME" not in line.upper()]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if "BODY=8BITMIME" in options and not self.offers_8bitmime:
            return "555 5.5.4 BODY=8BITMIME parameter not supported"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        if not content.isascii() and not self.offers_8bitmime:
            return "554 5.6.1 8-bit data without 8BITMIME"
        self.received.append((envelope.rcpt_tos[0], content, list(envelope.mail_options)))
        return f"250 2.0.0 Ok: queued as Q{len(self.received):05d}"


@pytest.fixture(params=[False, True], ids=["relay-without-8bitmime", "relay-with-8bitmime"])
def relay(request: pytest.FixtureRequest) -> Iterator[tuple[Relay, int]]:
    handler = Relay(offers_8bitmime=request.param)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def dns_for(record: bytes) -> Callable[..., bytes | None]:
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    return lookup


@pytest.fixture(scope="module")
def non_ascii_issue(issue_config: Config, tmp_path_factory: pytest.TempPathFactory) -> CompiledIssue:
    path = tmp_path_factory.mktemp("issue") / "2026-12-winter-de.md"
    path.write_text(ISSUE, encoding="utf-8")
    return render_issue(read_issue(path), issue_config)


def test_every_message_is_7bit_and_verifies_after_the_relay(
    bench: Bench,
    relay: tuple[Relay, int],
    dkim_key: tuple[Path, bytes],
    non_ascii_issue: CompiledIssue,
) -> None:
    handler, port = relay
    for address, name in READERS.items():
        bench.add(address, first_name=name)
    campaign_id = bench.campaign(compiled=non_ascii_issue)
    transport = SmtpTransport(
        "relay", SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5.0, connections=1)
    )
    key_file, record = dkim_key
    runner = CampaignRunner(
        bench.engine,
        campaign_id,
        transport,
        Pace(RateLimits(), bench.clock, bench.sleep),
        bench.clock,
        RunSettings(batch_size=50, concurrency=1),
        base_url=BASE_URL,
        secret=SECRET,
        signer=dkim_signer(DOMAIN, SELECTOR, key_file),
        sleep=bench.sleep,
        rng=random.Random(1),
    )
    with transport:
        runner.run(wait_for_retries=False)

    assert set(bench.states(campaign_id).values()) == {"sent"}
    assert sorted(rcpt for rcpt, _, _ in handler.received) == sorted(READERS)
    for recipient, raw, options in handler.received:
        assert raw.isascii(), recipient
        assert not any(option.startswith("BODY=") for option in options), options
        assert dkim.verify(raw, dnsfunc=dns_for(record)), recipient
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        name = READERS[recipient]
        first = name  # all of it is the first name here
        assert str(message["Subject"]) == f"Für {first}: «Winter» notes ☃"
        text, page = message.get_body(("plain",)), message.get_body(("html",))
        assert text is not None and page is not None
        assert text["Content-Transfer-Encoding"] == "quoted-printable"
        assert f"Liebe {first}, the café is open — Ω and “quotes”." in text.get_content()
        assert f"Liebe {first}," in html.unescape(page.get_content())
