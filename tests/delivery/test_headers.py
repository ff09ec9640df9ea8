"""What every bulk message carries (docs/design.md section 5), read back from the Maildir after a real
``outreach send --yes`` in a temp project, with DKIM signing by a key generated for the test."""

from __future__ import annotations

import base64
import email
import email.policy
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

import dkim
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from outreach.audience import Consent, ConsentMethod, Profile, add_subscriber, transaction, unsubscribe
from outreach.audience.db import make_engine, upgrade
from outreach.audience.schema import Subscriber
from outreach.audience.topics import load_topics, sync_topics
from outreach.cli import app
from outreach.clock import SystemClock
from outreach.tokens import Purpose, read_mailto_subject, read_subject
from tests.delivery.conftest import (
    ISSUE_SLUG,
    LISTS,
    PARAGRAPHS,
    SECRET,
    TOPIC,
    Bench,
    TimedMemory,
    copy_project,
)

BASE_URL = "https://news.virginia-association-for-infant-mental-health.example/newsletter/links"
DKIM_DOMAIN = "vaimh.example"
SELECTOR = "news"
MAILTO = "unsubscribe@vaimh.example"
# The two names of the header-injection issue: an encoded word that decodes to CR LF, a Reply-To and
# a line of body text; quotes that closed the display name early to add an address.
ENCODED_WORD_ATTACK = "=?utf-8?b?DQpSZXBseS1UbzogeEBldmlsLmV4YW1wbGUNCg0KQ2FsbCArMSA1NTUgMDEwMCBub3c=?="
QUOTE_ATTACK = 'Eve" <evil@evil.example>, "x'
READERS = {
    "ada@example.org": ("Ada", "Lovelace"),
    "jose.nunez@example.org": ("José", "Núñez"),
    "plain@example.org": ("", ""),
    "encoded@example.org": (ENCODED_WORD_ATTACK, ""),
    "quotes@example.org": (QUOTE_ATTACK, QUOTE_ATTACK),
}
SIGNED = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
UNSUBSCRIBE = re.compile(r"^<(https://[^>\s]+/u/([A-Za-z0-9_.\-]+))>(, <mailto:[^>\s]+>)?$")


@dataclass(frozen=True)
class Delivered:
    recipient: str
    raw: bytes
    message: EmailMessage

    def header_line(self, name: bytes) -> list[bytes]:
        """The header's raw lines: its first line and any continuation lines."""
        head = self.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        for index, line in enumerate(head):
            if line.lower().startswith(name.lower() + b":"):
                continuation = []
                for next_line in head[index + 1 :]:
                    if next_line[:1] not in (b" ", b"\t"):
                        break
                    continuation.append(next_line)
                return [line, *continuation]
        raise AssertionError(f"no {name!r} header")


@dataclass(frozen=True)
class Sent:
    project: Path
    messages: list[Delivered]
    subscriber_ids: dict[str, int]
    txt_record: bytes
    started: datetime
    output: str


def _dkim_key() -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    project = copy_project(tmp_path_factory.mktemp("headers") / "project")
    pem, txt_record = _dkim_key()
    (project / "dkim.pem").write_bytes(pem)
    toml = project / "outreach.toml"
    text = toml.read_text()
    text = text.replace('base_url = "https://news.vaimh.example"', f'base_url = "{BASE_URL}"')
    text = text.replace(
        'message_id_domain = "vaimh.example"',
        f'message_id_domain = "vaimh.example"\nunsubscribe_mailto = "{MAILTO}"',
    )
    text += f'\n[dkim]\ndomain = "{DKIM_DOMAIN}"\nselector = "{SELECTOR}"\nkey_file = "dkim.pem"\n'
    toml.write_text(text)
    url = f"sqlite:///{project / 'outreach.db'}"
    engine = make_engine(url)
    upgrade(engine)
    clock = SystemClock()
    consent = Consent(ConsentMethod.ADMIN, source="test")
    ids: dict[str, int] = {}
    with transaction(engine) as session:
        sync_topics(session, load_topics(LISTS / "topics.yaml"))
        for address, (first, last) in READERS.items():
            profile = Profile(first_name=first, last_name=last)
            ids[address] = add_subscriber(
                session, address, consent=consent, clock=clock, topics=(TOPIC,), profile=profile
            ).id
        left = add_subscriber(session, "left@example.org", consent=consent, clock=clock, topics=(TOPIC,))
        add_subscriber(
            session, "elsewhere@example.org", consent=consent, clock=clock, topics=("policy-advocacy",)
        )
        unsubscribe(session, left.id, consent=consent, clock=clock)
    engine.dispose()

    started = datetime.now(UTC)
    issue = project / "newsletters" / f"{ISSUE_SLUG}.md"
    result = CliRunner().invoke(
        app,
        ["send", str(issue), "--yes", "--root", str(project)],
        env={"OUTREACH_SECRET_KEY": SECRET, "OUTREACH_DATABASE_URL": url, "COLUMNS": "200"},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    files = sorted((project / "outbox" / "new").glob("*"))
    messages = []
    for file in files:
        raw = file.read_bytes()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(Delivered(str(parsed["Delivered-To"]), raw, parsed))
    yield Sent(project, messages, ids, txt_record, started, result.output)


def dns_for(record: bytes) -> object:
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{SELECTOR}._domainkey.{DKIM_DOMAIN}.".encode() else None

    return lookup


def signature_tags(raw: bytes) -> dict[str, str]:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    value = "".join(str(message["DKIM-Signature"]).split())
    return dict(part.split("=", 1) for part in value.split(";") if "=" in part)


# -- who got what ------------------------------------------------------------------------------------------


def test_one_message_per_mailable_recipient(sent: Sent) -> None:
    assert sorted(m.recipient for m in sent.messages) == sorted(READERS)
    assert f"campaign 1 is done: {len(READERS)} sent" in " ".join(sent.output.split())


def test_identity_headers(sent: Sent) -> None:
    for delivered in sent.messages:
        message = delivered.message
        first, last = READERS[delivered.recipient]
        name = f"{first} {last}".strip()
        assert message["From"] == "VAIMH News <news@vaimh.example>"
        [to] = message["To"].addresses
        assert to.addr_spec == delivered.recipient
        # decoded as RFC 2047 6.2 says (Python's own parser keeps a space between two encoded words)
        old = email.message_from_bytes(delivered.raw, policy=email.policy.compat32)
        [(display, address)] = getaddresses([str(old["To"])])
        assert (str(make_header(decode_header(display))), address) == (name, delivered.recipient)
        assert message["Reply-To"] == "info@vaimh.example"
        assert message["Subject"] == "Winter notes from VAIMH"
        assert message["MIME-Version"] == "1.0"
        assert message["Return-Path"] == "<news@vaimh.example>"
        when = parsedate_to_datetime(str(message["Date"]))
        assert when.tzinfo is not None
        assert sent.started - timedelta(seconds=2) <= when <= datetime.now(UTC)
        # one of each, and nothing else
        for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Id"):
            assert len(message.get_all(header) or []) == 1, header
        ours = {
            *(h.decode().title() for h in SIGNED),
            "Reply-To",
            "Mime-Version",
            "Content-Type",
            "Dkim-Signature",
        }
        added = {"Return-Path", "Delivered-To"}  # the Maildir's delivery headers
        assert {key.title() for key in message} - added == ours
    jose = next(m for m in sent.messages if m.recipient == "jose.nunez@example.org")
    to_line = b"".join(jose.header_line(b"To"))
    assert to_line.isascii() and b"=?utf-8?" in to_line  # a non-ASCII name is RFC 2047-encoded


def test_names_that_look_like_headers_stay_display_names(sent: Sent) -> None:
    """An encoded-word name is itself encoded (no reader decodes it into CR LF and headers), quotes
    stay escaped inside one quoted-string, and the body starts where the mail starts."""
    by_address = {m.recipient: m for m in sent.messages}
    encoded = by_address["encoded@example.org"]
    to_lines = encoded.header_line(b"To")
    assert to_lines[0].startswith(b"To: =?utf-8?b?") and b"DQpS" not in b"".join(to_lines)
    quotes = by_address["quotes@example.org"]
    escaped = QUOTE_ATTACK.replace('"', '\\"')
    assert quotes.header_line(b"To") == [f'To: "{escaped} {escaped}"'.encode(), b" <quotes@example.org>"]
    for delivered in (encoded, quotes):
        for policy in (email.policy.default, email.policy.compat32):
            message = email.message_from_bytes(delivered.raw, policy=policy)
            assert len(getaddresses(message.get_all("To") or [])) == 1
            assert [str(v) for v in message.get_all("Reply-To") or []] == ["info@vaimh.example"]
        text = delivered.message.get_body(("plain",))
        assert text is not None
        assert not text.get_content().lstrip().startswith("Call")


def test_message_ids_are_unique_and_on_the_sending_domain(sent: Sent) -> None:
    ids = [str(m.message["Message-ID"]) for m in sent.messages]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"<[A-Za-z0-9.]+@vaimh\.example>", mid) for mid in ids), ids


def test_multipart_alternative_with_the_real_text_first_and_html_last(sent: Sent) -> None:
    for delivered in sent.messages:
        message = delivered.message
        assert message.get_content_type() == "multipart/alternative"
        parts = list(message.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
        text = " ".join(parts[0].get_content().split())
        page = " ".join(html.unescape(parts[1].get_content()).split())
        first = READERS[delivered.recipient][0] or "friend"
        assert f"Dear {first}," in text and f"Dear {first}," in page
        for paragraph in PARAGRAPHS:  # the text part is the content, not a "view in a browser" stub
            assert paragraph in text
            assert paragraph in page
        for body in (text, page):  # CAN-SPAM: a visible unsubscribe link, preferences and the address
            assert f"{BASE_URL}/u/" in body and f"{BASE_URL}/p/" in body
            assert "P.O. Box 29071, Richmond, VA 23242" in body


def test_list_unsubscribe_is_one_plain_https_line_with_a_valid_token(sent: Sent) -> None:
    for delivered in sent.messages:
        message = delivered.message
        lines = delivered.header_line(b"List-Unsubscribe")
        assert len(lines) == 1, lines  # never folded
        assert b"=?" not in lines[0]  # never an RFC 2047 encoded word
        match = UNSUBSCRIBE.match(lines[0].decode("ascii").removeprefix("List-Unsubscribe: "))
        assert match, lines[0]
        url, token = match.group(1), match.group(2)
        assert url.startswith(BASE_URL + "/u/")
        subject = read_subject(SECRET, Purpose.UNSUBSCRIBE, token)
        assert subject is not None and subject.subscriber_id == sent.subscriber_ids[delivered.recipient]
        assert subject.campaign_id is not None  # the report can count an unsubscribe against its campaign
        assert url in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert delivered.header_line(b"List-Unsubscribe-Post") == [
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
        ]
        assert message["List-Id"] == "VAIMH News <news.vaimh.example>"
    tokens = {d.header_line(b"List-Unsubscribe")[0] for d in sent.messages}
    assert len(tokens) == len(sent.messages)  # one per person


def test_list_unsubscribe_carries_the_configured_mailto(sent: Sent) -> None:
    for delivered in sent.messages:
        value = str(delivered.message["List-Unsubscribe"])
        mailto = re.fullmatch(
            rf"<https://[^>]+>, <mailto:{re.escape(MAILTO)}\?subject=(unsubscribe-\S+)>", value
        )
        assert mailto, value
        subject = read_mailto_subject(SECRET, mailto.group(1))
        assert subject is not None and subject.subscriber_id == sent.subscriber_ids[delivered.recipient]


def test_lines_end_in_crlf_and_stay_under_998_octets(sent: Sent) -> None:
    for delivered in sent.messages:
        raw = delivered.raw
        assert raw.count(b"\n") == raw.count(b"\r\n") and raw.count(b"\r") == raw.count(b"\r\n")
        longest = max(len(line) for line in raw.split(b"\r\n"))
        assert longest <= 998, longest


# -- DKIM --------------------------------------------------------------------------------------------------


def test_every_message_is_dkim_signed_and_verifies(sent: Sent) -> None:
    for delivered in sent.messages:
        assert dkim.verify(delivered.raw, dnsfunc=dns_for(sent.txt_record)), delivered.recipient
        tags = signature_tags(delivered.raw)
        assert (tags["d"], tags["s"], tags["a"]) == (DKIM_DOMAIN, SELECTOR, "rsa-sha256")
        signed = {h.strip().lower().encode() for h in tags["h"].split(":")}
        assert set(SIGNED) <= signed, signed


@pytest.mark.parametrize(
    ("header", "forged"),
    [
        (
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            b"List-Unsubscribe-Post: List-Unsubscribe=Nope",
        ),
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", b""),
        (b"List-Unsubscribe: <https://", b"List-Unsubscribe: <https://evil.example/?"),
        (b"Subject: Winter notes from VAIMH", b"Subject: Winter notes from VAIMH!"),
    ],
    ids=["altered-one-click", "removed-one-click", "altered-unsubscribe", "altered-subject"],
)
def test_altering_a_signed_header_breaks_the_signature(sent: Sent, header: bytes, forged: bytes) -> None:
    delivered = sent.messages[0]
    assert header in delivered.raw
    tampered = delivered.raw.replace(header, forged, 1)
    assert not dkim.verify(tampered, dnsfunc=dns_for(sent.txt_record))


def test_a_wrong_public_key_does_not_verify(sent: Sent) -> None:
    _, other_record = _dkim_key()
    assert not dkim.verify(sent.messages[0].raw, dnsfunc=dns_for(other_record))


# -- per-recipient values at their limits ------------------------------------------------------------------


def test_a_long_non_ascii_name_keeps_every_line_under_998_octets(bench: Bench) -> None:
    bench.add("long@example.org", first_name="É" * 200)
    with transaction(bench.engine) as session:
        subscriber = session.scalars(
            sa.select(Subscriber).where(Subscriber.email == "long@example.org")
        ).one()
        subscriber.last_name = "Ü" * 200
    campaign = bench.campaign()
    memory = TimedMemory(bench.clock)
    bench.run(campaign, memory)
    (message,) = memory.outbox
    longest = max(message.raw.split(b"\r\n"), key=len)
    assert len(longest) <= 998, longest[:60]
