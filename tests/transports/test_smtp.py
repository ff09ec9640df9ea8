"""SMTP against aiosmtpd: faults, TLS, AUTH, SMTPUTF8/8BITMIME, pooling; nothing is ever sent twice."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from outreach.transports.base import Outcome
from outreach.transports.smtp import SmtpSettings, SmtpTransport
from tests.ports import free_port
from tests.transports.conftest import Noting, SmtpRecorder, SmtpServer, make_message

Factory = Callable[..., SmtpServer]


def transport(server: SmtpServer, **settings: Any) -> SmtpTransport:
    values: dict[str, Any] = {"host": server.host, "port": server.port, "security": "none", "timeout": 5.0}
    values.update(settings)
    context = values.pop("ssl_context", None)
    return SmtpTransport("relay", SmtpSettings(**values), ssl_context=context)


def test_the_250_reply_gives_the_queue_id(smtp_server: SmtpServer) -> None:
    with transport(smtp_server) as smtp:
        (result,) = smtp.send([make_message(1)])
    assert result.outcome is Outcome.SENT
    assert result.code == "250 2.0.0"
    assert result.provider_id == "Q00001"
    mail_from, rcpts, _, _ = smtp_server.handler.received[0]
    assert mail_from == "bounces+1001@vaimh.example"  # the VERP return path is the envelope sender
    assert rcpts == ["reader1@example.org"]


def test_421_then_disconnect_retries_later_and_reconnects_next_time(smtp_server: SmtpServer) -> None:
    smtp_server.handler.faults["reader1@example.org"] = "421 4.3.2 Shutting down, try again in 2 minutes"
    batch = [make_message(0), make_message(1), make_message(2)]
    smtp = transport(smtp_server)
    results = smtp.send(batch)
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.RETRY, Outcome.RETRY]
    assert results[1].code == "421 4.3.2"
    assert results[1].retry_after == 120
    assert not results[2].attempted and results[2].detail.startswith("not attempted")
    smtp_server.handler.faults.clear()
    assert smtp.send([make_message(2)])[0].outcome is Outcome.SENT  # a fresh connection
    assert smtp_server.handler.sessions == 2
    smtp.close()


def test_451_is_retried_and_the_connection_goes_on(smtp_server: SmtpServer) -> None:
    smtp_server.handler.faults["reader1@example.org"] = "451 4.3.0 Temporary lookup failure"
    with transport(smtp_server) as smtp:
        results = smtp.send([make_message(0), make_message(1), make_message(2)])
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.RETRY, Outcome.SENT]
    assert results[1].detail == "RCPT TO: 4.3.0 Temporary lookup failure"
    assert smtp_server.handler.sessions == 1  # RSET, not a new connection


def test_452_on_some_recipients_retries_only_those(smtp_server: SmtpServer) -> None:
    for n in (1, 3):
        smtp_server.handler.faults[f"reader{n}@example.org"] = "452 4.2.2 Mailbox full, try later"
    with transport(smtp_server) as smtp:
        results = smtp.send([make_message(n) for n in range(5)])
    outcomes = [r.outcome for r in results]
    assert outcomes == [Outcome.SENT, Outcome.RETRY, Outcome.SENT, Outcome.RETRY, Outcome.SENT]
    assert [rcpts[0] for _, rcpts, _, _ in smtp_server.handler.received] == [
        "reader0@example.org",
        "reader2@example.org",
        "reader4@example.org",
    ]


@pytest.mark.parametrize(
    ("reply", "outcome", "code"),
    [
        (
            "550 5.1.1 <reader1@example.org>: Recipient address rejected: User unknown",
            Outcome.BOUNCED,
            "550 5.1.1",
        ),
        ("552 5.3.4 Message size exceeds fixed limit", Outcome.REJECTED, "552 5.3.4"),
        (
            "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org",
            Outcome.BLOCKED,
            "554 5.7.1",
        ),
    ],
)
def test_permanent_rcpt_replies(smtp_server: SmtpServer, reply: str, outcome: Outcome, code: str) -> None:
    smtp_server.handler.faults["reader1@example.org"] = reply
    with transport(smtp_server) as smtp:
        results = smtp.send([make_message(1), make_message(2)])
    assert results[0].outcome is outcome
    assert results[0].code == code
    if outcome is Outcome.BLOCKED:
        # a policy block pauses the campaign: the rest of the batch is not burned against it
        assert results[1].outcome is Outcome.RETRY and not results[1].attempted
    else:
        assert results[1].outcome is Outcome.SENT


def test_552_at_end_of_data_rejects_the_message(smtp_server: SmtpServer) -> None:
    smtp_server.handler.faults["reader1@example.org"] = "data:552 5.3.4 Message too big for system"
    with transport(smtp_server) as smtp:
        (result,) = smtp.send([make_message(1)])
    assert (result.outcome, result.code) == (Outcome.REJECTED, "552 5.3.4")
    assert result.detail.startswith("end of DATA:")


def test_connection_dropped_after_data_is_uncertain_never_resent(smtp_server: SmtpServer) -> None:
    smtp_server.handler.faults["reader1@example.org"] = "drop-after-data"
    with transport(smtp_server) as smtp:
        results = smtp.send([make_message(1), make_message(2)])
    assert results[0].outcome is Outcome.RETRY
    assert results[0].uncertain
    assert "connection lost after DATA: the message may have been delivered" in results[0].detail
    assert results[1].outcome is Outcome.SENT  # the next message goes on a new connection
    assert smtp_server.handler.sessions == 2


def test_a_stalled_server_times_out(smtp_server: SmtpServer) -> None:
    smtp_server.handler.faults["reader1@example.org"] = "stall"
    with transport(smtp_server, timeout=0.5) as smtp:
        results = smtp.send([make_message(1), make_message(2)])
    assert results[0].outcome is Outcome.RETRY
    assert results[0].code == "timeout"
    assert "no answer within 0.5 s" in results[0].detail
    assert not results[0].uncertain  # it stalled at RCPT: nothing was handed over
    assert not results[1].attempted


def test_nothing_listening_is_retry_for_the_whole_batch() -> None:
    from tests.ports import free_port

    smtp = SmtpTransport(
        "relay", SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout=1)
    )
    results = smtp.send([make_message(1), make_message(2)])
    assert [r.outcome for r in results] == [Outcome.RETRY, Outcome.RETRY]
    assert results[0].code == "connect" and "cannot connect" in results[0].detail
    assert not results[1].attempted


def test_an_idle_connection_closed_by_the_server_is_replaced_without_loss(smtp_server: SmtpServer) -> None:
    smtp = transport(smtp_server)
    assert smtp.send([make_message(1)])[0].outcome is Outcome.SENT
    smtp_server.handler.mail_reply = "421 4.4.2 Error: timeout exceeded"  # what Postfix says to idle clients
    assert smtp.send([make_message(2)])[0].outcome is Outcome.SENT
    assert smtp_server.handler.sessions == 2
    assert len(smtp_server.handler.received) == 2
    smtp.close()


def test_the_pool_reuses_connections_across_threads(smtp_server: SmtpServer) -> None:
    smtp = transport(smtp_server, connections=2)
    results: list[Outcome] = []
    lock = threading.Lock()

    def work(start: int) -> None:
        for n in range(start, start + 5):
            outcome = smtp.send([make_message(n)])[0].outcome
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=work, args=(i * 10,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    smtp.close()
    assert results == [Outcome.SENT] * 20
    assert len(smtp_server.handler.received) == 20
    assert smtp_server.handler.sessions <= 2


def test_8bit_message_declares_body_8bitmime(smtp_server: SmtpServer) -> None:
    with transport(smtp_server) as smtp:
        (result,) = smtp.send([make_message(1, eight_bit=True)])
    assert result.outcome is Outcome.SENT
    assert "BODY=8BITMIME" in smtp_server.handler.received[0][3]


def test_lines_that_start_with_a_dot_arrive_unchanged(smtp_server: SmtpServer) -> None:
    """A lone "." line would end DATA early if it were not doubled (RFC 5321 4.5.2)."""
    raw = make_message(1).raw.replace(b"\r\n\r\n", b"\r\n\r\n.\r\n..two dots\r\n.5 miles away\r\n", 2)
    message = replace(make_message(1), raw=b"." + raw)
    with transport(smtp_server) as smtp:
        (result,) = smtp.send([message])
    assert result.outcome is Outcome.SENT
    assert smtp_server.handler.received[0][2] == message.raw


def test_non_ascii_local_part_needs_smtputf8(smtp_server_factory: Factory) -> None:
    plain = smtp_server_factory(enable_SMTPUTF8=False)  # aiosmtpd's Controller offers it by default
    with transport(plain) as smtp:
        (result,) = smtp.send([make_message(1, recipient="zoë@example.org")])
    assert result.outcome is Outcome.REJECTED
    assert "needs SMTPUTF8" in result.detail
    assert plain.handler.received == []

    utf8 = smtp_server_factory(enable_SMTPUTF8=True)
    with transport(utf8) as smtp:
        (result,) = smtp.send([make_message(1, recipient="zoë@example.org")])
    assert result.outcome is Outcome.SENT
    assert utf8.handler.received[0][1] == ["zoë@example.org"]
    assert "SMTPUTF8" in utf8.handler.received[0][3]


def test_non_ascii_domain_goes_as_idna_without_smtputf8(smtp_server: SmtpServer) -> None:
    with transport(smtp_server) as smtp:
        (result,) = smtp.send([make_message(1, recipient="anna@bücher.example")])
    assert result.outcome is Outcome.SENT
    assert smtp_server.handler.received[0][1] == ["anna@xn--bcher-kva.example"]


# -- TLS and AUTH ----------------------------------------------------------------------------------------


@pytest.fixture
def certificate_authority() -> Any:
    trustme = pytest.importorskip("trustme", reason="pip install trustme for the TLS tests")
    return trustme.CA()


def _server_context(ca: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def _client_context(ca: Any) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"news",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)


def test_starttls_and_auth(smtp_server_factory: Factory, certificate_authority: Any) -> None:
    server = smtp_server_factory(
        tls_context=_server_context(certificate_authority),
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    settings: dict[str, Any] = {"security": "starttls", "username": "news", "password": "s3cret"}
    with transport(server, ssl_context=_client_context(certificate_authority), **settings) as smtp:
        (result,) = smtp.send([make_message(1)])
    assert result.outcome is Outcome.SENT, result


def test_wrong_password_blocks(smtp_server_factory: Factory, certificate_authority: Any) -> None:
    server = smtp_server_factory(
        tls_context=_server_context(certificate_authority),
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    settings: dict[str, Any] = {"security": "starttls", "username": "news", "password": "wrong"}
    with transport(server, ssl_context=_client_context(certificate_authority), **settings) as smtp:
        results = smtp.send([make_message(1), make_message(2)])
    assert results[0].outcome is Outcome.BLOCKED
    assert results[0].code.startswith("535")
    assert not results[1].attempted
    assert server.handler.received == []


def test_untrusted_certificate_blocks_unless_verification_is_off(
    smtp_server_factory: Factory, certificate_authority: Any
) -> None:
    server = smtp_server_factory(tls_context=_server_context(certificate_authority))
    with transport(server, security="starttls") as smtp:  # the system store does not know the test CA
        (result,) = smtp.send([make_message(1)])
    assert result.outcome is Outcome.BLOCKED
    assert "tls_verify" in result.detail
    with transport(server, security="starttls", tls_verify=False) as smtp:
        (result,) = smtp.send([make_message(1)])
    assert result.outcome is Outcome.SENT


def test_starttls_not_offered_blocks(smtp_server: SmtpServer) -> None:
    with transport(smtp_server, security="starttls") as smtp:
        (result,) = smtp.send([make_message(1)])
    assert result.outcome is Outcome.BLOCKED
    assert "does not offer STARTTLS" in result.detail


def test_implicit_tls(smtp_server_factory: Factory, certificate_authority: Any) -> None:
    server = smtp_server_factory(ssl_context=_server_context(certificate_authority))
    with transport(server, security="tls", ssl_context=_client_context(certificate_authority)) as smtp:
        (result,) = smtp.send([make_message(1)])
    assert result.outcome is Outcome.SENT, result


# -- a relay without 8BITMIME ------------------------------------------------------------------------------


class StrictRecorder(SmtpRecorder):
    """aiosmtpd without 8BITMIME in its EHLO answer, refusing the BODY parameter it never offered."""

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        responses = await super().handle_EHLO(server, session, envelope, hostname, responses)
        return [line for line in responses if "8BITMIME" not in line.upper()]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if any(option.upper().startswith("BODY=") for option in options):
            return "555 5.5.4 MAIL FROM parameters not recognized or not implemented"
        return await super().handle_MAIL(server, session, envelope, address, options)


@pytest.fixture
def strict_server() -> Iterator[SmtpServer]:
    handler = StrictRecorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


def test_an_smtputf8_message_asks_for_8bitmime_only_where_it_is_offered(strict_server: SmtpServer) -> None:
    """UTF-8 headers go with SMTPUTF8; BODY=8BITMIME is added only when the server offers it (one that
    does not refuses the parameter)."""
    message = make_message(1, recipient="zoë@example.org")
    utf8 = replace(message, raw=message.raw.replace(b"=?utf-8?q?zo=C3=AB?=@", "zoë@".encode()))
    with transport(strict_server) as smtp:
        (result,) = smtp.send([utf8])
    assert result.outcome is Outcome.SENT, result.detail
    (_, rcpts, raw, options) = strict_server.handler.received[0]
    assert rcpts == ["zoë@example.org"] and not raw.isascii()
    assert "SMTPUTF8" in options and not any(o.startswith("BODY=") for o in options)


def test_each_answer_is_reported_as_it_arrives_not_when_the_batch_ends(smtp_server: SmtpServer) -> None:
    """A process that dies while the server holds message 3 has already said that 1 and 2 were
    accepted and that 3 left; 4 never left. That is what bounds ``unknown`` to one per connection."""
    batch = [make_message(n) for n in range(1, 5)]
    smtp_server.handler.faults[batch[2].recipient] = "hold"
    receipts = Noting()
    with transport(smtp_server) as smtp:
        worker = threading.Thread(target=smtp.deliver, args=(batch, receipts))
        worker.start()
        try:
            deadline = time.monotonic() + 10
            while receipts.handed() != [m.key for m in batch[:3]]:
                assert time.monotonic() < deadline, receipts.events
                time.sleep(0.01)
            time.sleep(0.2)  # the server still holds message 3
            assert worker.is_alive()
            assert [receipts.results[m.key].outcome for m in batch[:2]] == [Outcome.SENT] * 2
            assert set(receipts.results) == {batch[0].key, batch[1].key}
        finally:
            smtp_server.handler.release.set()
            worker.join(timeout=10)
    assert [receipts.results[m.key].outcome for m in batch] == [Outcome.SENT] * 4
