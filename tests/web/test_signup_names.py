"""Names typed into the sign-up form are text in the confirmation mail: never a header, never an
address of their own, never the start of the body; the mail leaves 7-bit.

The two names are the ones of the issue: an RFC 2047 encoded word that decodes to CR LF, a Reply-To
and a line of body text, and quotes that closed the display name early to add an address.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from outreach.audience import find_by_email, transaction
from outreach.transports.memory import MemoryTransport

ENCODED_WORD_ATTACK = "=?utf-8?b?DQpSZXBseS1UbzogeEBldmlsLmV4YW1wbGUNCg0KQ2FsbCArMSA1NTUgMDEwMCBub3c=?="
QUOTE_ATTACK = 'Eve" <evil@evil.example>, "x'
HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
}


@pytest.mark.parametrize("name", [ENCODED_WORD_ATTACK, QUOTE_ATTACK, "Renée Ñúñez 😀"])
def test_a_name_from_the_form_is_only_ever_a_display_name(
    signup_form: Callable[..., Any], engine: Engine, outbox: MemoryTransport, name: str
) -> None:
    answer = signup_form(first_name=name, last_name="")
    assert answer.status_code == 200
    with transaction(engine) as session:
        subscriber = find_by_email(session, "ana@example.org")
        assert subscriber is not None and subscriber.first_name == name  # stored as text, not decoded
    (mail,) = outbox.outbox
    raw = mail.raw
    assert raw.isascii()  # 7-bit: no relay needs 8BITMIME for it

    modern = email.message_from_bytes(raw, policy=email.policy.default)
    old = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert isinstance(modern, EmailMessage)
    for message in (modern, old):
        assert sorted(key.lower() for key in message) == sorted(HEADERS)
        assert str(message["Reply-To"]) == "info@vaimh.example"
    [to] = modern["To"].addresses
    assert to.addr_spec == "ana@example.org"
    [(display, address)] = getaddresses([str(old["To"])])
    assert address == "ana@example.org"
    assert str(make_header(decode_header(display))) == name

    text = modern.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert not body.lstrip().startswith("Call")  # the attacker's line is not the top of the body
    assert f"Hello {name}," in body  # the greeting shows the name as typed
    assert "Reply-To" not in body.split(f"Hello {name},")[0]
