"""The one contract every transport passes, each against a real local server (as Django's shared tests)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from outreach.transports.base import Outcome, OutgoingMessage, SendResult, Transport
from outreach.transports.maildir import MaildirTransport, messages
from outreach.transports.mailgun import MailgunTransport
from outreach.transports.memory import MemoryTransport
from outreach.transports.postmark import PostmarkTransport
from outreach.transports.sendgrid import SendgridTransport
from outreach.transports.smtp import SmtpSettings, SmtpTransport
from tests.transports.conftest import (
    LIST_ID,
    LONG_UNSUBSCRIBE,
    REJECTED_ADDRESS,
    Arrival,
    FakeApi,
    MotoSes,
    Noting,
    SmtpServer,
    arrival_from_raw,
    make_message,
)

BACKENDS = ["maildir", "memory", "smtp", "ses", "sendgrid", "postmark", "mailgun"]


@dataclass
class Case:
    """A transport under test, how to see what arrived, and whether it can refuse one recipient."""

    transport: Transport
    arrived: Callable[[], list[Arrival]]
    can_refuse: bool = True
    refused: str = REJECTED_ADDRESS  # a recipient the server refuses


def _json_arrivals(api: FakeApi, provider: str) -> list[Arrival]:
    found = []
    for body in api.bodies:
        if provider == "sendgrid":
            personal = body["personalizations"][0]
            headers = dict(body.get("headers", {}))
            if "reply_to" in body:
                headers["Reply-To"] = body["reply_to"]["email"]
            text, html = (part["value"] for part in body["content"])
            found.append(Arrival(personal["to"][0]["email"], body["subject"], text, html, headers))
        else:
            for message in body:
                headers = {h["Name"]: h["Value"] for h in message["Headers"]}
                headers["Reply-To"] = message["ReplyTo"]
                arrival = Arrival(
                    message["To"], message["Subject"], message["TextBody"], message["HtmlBody"], headers
                )
                found.append(arrival)
    return found


@pytest.fixture(params=BACKENDS)
def case(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    smtp_server_factory: Callable[..., SmtpServer],
    fake_api: Callable[[str], FakeApi],
) -> Iterator[Case]:
    backend: str = request.param
    if backend == "maildir":
        maildir = MaildirTransport("outbox", tmp_path / "outbox")
        yield Case(
            maildir, lambda: [_maildir_arrival(m) for m in messages(tmp_path / "outbox")], can_refuse=False
        )
    elif backend == "memory":
        memory = MemoryTransport("memory")
        yield Case(
            memory, lambda: [arrival_from_raw(m.recipient, m.raw) for m in memory.outbox], can_refuse=False
        )
    elif backend == "smtp":
        server = smtp_server_factory()
        server.handler.faults[REJECTED_ADDRESS] = (
            "550 5.1.1 <nobody@reject.example>: Recipient address rejected"
        )
        smtp = SmtpTransport(
            "relay", SmtpSettings(host=server.host, port=server.port, security="none", timeout=5)
        )
        yield Case(smtp, server.handler.arrivals)
    elif backend == "ses":
        ses_server: MotoSes = request.getfixturevalue("moto_ses")
        from outreach.transports.ses import SesCredentials, SesTransport

        before = len(ses_server.sent())
        ses = SesTransport(
            "ses", "us-east-1", SesCredentials("testing", "testing"), endpoint_url=ses_server.url
        )
        yield Case(
            ses,
            lambda: [
                arrival_from_raw(m.destinations[0], m.raw_data.encode()) for m in ses_server.sent()[before:]
            ],
            refused="not-an-address",  # moto validates syntax only
        )
    else:
        api = fake_api(backend)
        transport: Transport
        if backend == "sendgrid":
            transport = SendgridTransport("sg", "SG.test-key", base_url=api.base_url, timeout=5)
            yield Case(transport, lambda: _json_arrivals(api, "sendgrid"))
        elif backend == "postmark":
            transport = PostmarkTransport("pm", "pm-test-token", base_url=api.base_url, timeout=5)
            yield Case(transport, lambda: _json_arrivals(api, "postmark"))
        else:
            transport = MailgunTransport(
                "mg", "mg.vaimh.example", "key-test", base_url=api.base_url, timeout=5
            )
            yield Case(transport, lambda: [arrival_from_raw(b["to"], b["raw"]) for b in api.bodies])


def _maildir_arrival(parsed: object) -> Arrival:
    from email.message import EmailMessage

    assert isinstance(parsed, EmailMessage)
    return arrival_from_raw(str(parsed["Delivered-To"]), parsed.as_bytes())


def test_a_batch_gives_one_sent_result_per_message_in_order(case: Case) -> None:
    batch = [make_message(n) for n in range(3)]
    with case.transport as transport:
        results = transport.send(batch)
    assert [r.key for r in results] == [m.key for m in batch]
    assert [r.outcome for r in results] == [Outcome.SENT] * 3, results
    assert all(r.provider_id for r in results), results
    assert len({r.provider_id for r in results}) == 3
    assert all(isinstance(r, SendResult) and not r.uncertain for r in results)


def test_messages_arrive_intact(case: Case) -> None:
    batch = [make_message(n) for n in range(2)]
    with case.transport as transport:
        transport.send(batch)
    arrived = case.arrived()
    assert [a.recipient for a in arrived] == [m.recipient for m in batch]
    for message, arrival in zip(batch, arrived, strict=True):
        _assert_intact(message, arrival)


def _assert_intact(message: OutgoingMessage, arrival: Arrival) -> None:
    assert arrival.subject == message.subject
    assert arrival.text.strip() == message.text.strip()
    assert arrival.html.strip() == message.html.strip()
    headers = {name.lower(): value for name, value in arrival.headers.items()}
    assert headers["list-unsubscribe"] == LONG_UNSUBSCRIBE  # unchanged: never folded or RFC 2047-encoded
    assert headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
    assert headers["list-id"] == LIST_ID
    assert headers["message-id"] == message.message_id
    assert headers["reply-to"] == "info@vaimh.example"


def test_open_close_and_reuse(case: Case) -> None:
    transport = case.transport
    transport.open()
    transport.open()  # harmless twice
    assert transport.send([make_message(1)])[0].outcome is Outcome.SENT
    transport.close()
    transport.close()  # harmless twice
    # send() after close() opens again, so a long-lived worker can close between campaigns
    assert transport.send([make_message(2)])[0].outcome is Outcome.SENT
    transport.close()
    assert transport.max_batch >= 1
    assert transport.name


def test_an_empty_batch_sends_nothing(case: Case) -> None:
    with case.transport as transport:
        assert transport.send([]) == []


def test_one_refused_recipient_does_not_stop_the_batch(case: Case) -> None:
    if not case.can_refuse:
        pytest.skip("this transport accepts every message by design")
    batch = [make_message(0), make_message(1, recipient=case.refused), make_message(2)]
    with case.transport as transport:
        results = transport.send(batch)
    assert [r.key for r in results] == [m.key for m in batch]
    assert results[0].outcome is Outcome.SENT
    assert results[1].outcome in (Outcome.BOUNCED, Outcome.REJECTED)
    assert results[1].detail
    assert results[2].outcome is Outcome.SENT, results


def test_results_are_plain_values(case: Case) -> None:
    with case.transport as transport:
        (result,) = transport.send([make_message(7)])
    assert json.loads(json.dumps({"outcome": result.outcome, "code": result.code}))["outcome"] == "sent"


# -- per message, as it happens --------------------------------------------------------------------------


def test_each_message_is_announced_before_it_leaves_and_answered_once(case: Case) -> None:
    batch = [make_message(n) for n in range(3)]
    receipts = Noting()
    with case.transport as transport:
        transport.deliver(batch, receipts)
    keys = [m.key for m in batch]
    assert receipts.handed() == keys
    for key in keys:  # announced first, answered after, once
        assert receipts.events.index(("handing", key)) < receipts.events.index(("answered", key))
    assert [receipts.results[key].outcome for key in keys] == [Outcome.SENT] * 3


def test_a_stop_before_a_hand_over_keeps_the_rest_of_the_batch_back(case: Case) -> None:
    batch = [make_message(n) for n in range(3)]
    receipts = Noting(stop_after=1)
    with case.transport as transport:
        transport.deliver(batch, receipts)
    handed = receipts.handed()  # one request may carry several messages (Postmark's batch)
    assert handed == [m.key for m in batch[: len(handed)]] and handed
    assert set(receipts.results) == {m.key for m in batch}
    for message in batch:
        result = receipts.results[message.key]
        if message.key in handed:
            assert result.outcome is Outcome.SENT
        else:  # never left: not attempted, so it costs the ledger row nothing and goes back to pending
            assert (result.outcome, result.attempted, result.uncertain) == (Outcome.RETRY, False, False)
    assert [a.recipient for a in case.arrived()] == [m.recipient for m in batch if m.key in handed]
