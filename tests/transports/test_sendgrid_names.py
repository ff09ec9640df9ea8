"""SendGrid takes display names as plain text and encodes them itself: names the frame wrote as
RFC 2047 encoded words must reach its JSON decoded, or readers would see "=?utf-8?q?...?="."""

from __future__ import annotations

import dataclasses

from outreach.delivery.headers import mailbox
from outreach.transports.sendgrid import payload
from tests.transports.conftest import make_message


def _encoded(name: str, address: str) -> str:
    """A mailbox header value as the message frame writes it (encoded words for non-ASCII names)."""
    line = mailbox("To", name, address, "a test address")
    return line.split(":", 1)[1].replace("\r\n", "").strip()


def test_encoded_names_reach_sendgrid_as_plain_text() -> None:
    message = dataclasses.replace(
        make_message(1),
        to_header=_encoded("María José Núñez", "maria@example.org"),
        from_header=_encoded("Asociación VAIMH", "news@vaimh.example"),
        headers=(("Reply-To", _encoded("Oficina de Membresía", "info@vaimh.example")),),
        recipient="maria@example.org",
    )
    assert "=?" in message.to_header and "=?" in message.from_header  # the test's premise
    body = payload(message)
    assert body["personalizations"][0]["to"] == [{"email": "maria@example.org", "name": "María José Núñez"}]
    assert body["from"] == {"email": "news@vaimh.example", "name": "Asociación VAIMH"}
    assert body["reply_to"] == {"email": "info@vaimh.example", "name": "Oficina de Membresía"}


def test_plain_names_and_bare_addresses_are_unchanged() -> None:
    message = dataclasses.replace(
        make_message(2), to_header='"Ana Smith" <ana@example.org>', recipient="ana@example.org"
    )
    body = payload(message)
    assert body["personalizations"][0]["to"] == [{"email": "ana@example.org", "name": "Ana Smith"}]
    assert body["from"] == {"email": "news@vaimh.example", "name": "VAIMH News"}
