"""The one header path, read back by the email package under its default policy and under compat32:
whatever a subscriber, a sender name or a subject holds, the block parses to exactly the headers we
set, one To address that is ours, encoded words of at most 75 characters and lines of at most 78
(998 for the few values that cannot fold)."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.utils import getaddresses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.delivery.frame import MessageFrame
from outreach.delivery.headers import MessageHeaders, display_text, plain_text
from outreach.errors import DeliveryError
from outreach.models import Recipient, RecipientLinks
from outreach.render.personal import PersonalTemplates, escape_jinja

WHEN = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
LIST_ID = "VAIMH News <news.vaimh.example>"
UNSUBSCRIBE = "https://news.vaimh.example/u/1.Ww0qXFUCL5kwrEH7px7zDjlHd7TUX9nbOsNaIQi8Mp8"
MAILTO = "mailto:unsubscribe@vaimh.example?subject=unsubscribe-1.abc"
OURS = {
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
ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

PIECES = ["=?utf-8?b?", "=?utf-8?q?", "?=", "DQpSZXBseS1Ubzog", '"', ",", "<", ">", "@", "\\", ";", ":"]
PIECES += [" ", "  ", "\t", "\r", "\n", "\r\n", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"]
PIECES += ["\u202e", "é", "Ł", "ễ", "中", "😀", "\U0010fffd", "\ud800", "a", "Eve", "&", "'", "(", ")"]
texts = (
    st.text(max_size=80)
    | st.text(min_size=200, max_size=1200)
    | st.lists(st.sampled_from(PIECES), max_size=60).map("".join)
    | st.sampled_from(
        [
            "=?utf-8?b?DQpSZXBseS1UbzogeEBldmlsLmV4YW1wbGUNCg0KQ2FsbCArMSA1NTUgMDEwMCBub3c=?=",
            'Eve" <evil@evil.example>, "x',
            "x" * 1500,
            "Zoë " * 300,
        ]
    )
)
locals_ = st.from_regex(r"[a-z0-9]{1,20}([._+-][a-z0-9]{1,20}){0,3}", fullmatch=True)


def parse(raw: bytes, policy: email.policy.Policy) -> Message:
    return email.message_from_bytes(raw, policy=policy)


def conforming(value: str) -> str:
    """A display name or subject decoded as RFC 2047 6.2 says (white space between words dropped)."""
    return str(make_header(decode_header(value)))


def head_of(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def check_lines(head: list[bytes]) -> None:
    """Every encoded word within 75 characters and every line within 998; within 78 unless the line
    is List-Unsubscribe (never folded) or holds one piece that has no space to fold at (a long
    address or a long word of a subject)."""
    for line in head:
        assert len(line) <= 998, line[:80]
        for word in ENCODED_WORD.findall(line):
            assert len(word) <= 75, word
        if len(line) > 78 and not line.startswith(b"List-Unsubscribe:"):
            piece = line[1:] if line.startswith(b" ") else line.split(b": ", 1)[1]
            assert b" " not in piece, line


@settings(max_examples=300, deadline=None)
@given(
    name=texts,
    organisation=texts,
    subject=texts,
    from_name=texts,
    reply_name=texts,
    local=locals_,
    mailto=st.booleans(),
)
def test_the_header_block_parses_to_exactly_what_we_set(
    name: str, organisation: str, subject: str, from_name: str, reply_name: str, local: str, mailto: bool
) -> None:
    """Through the frame (the campaign path), with the subject and names as staff and subscribers
    typed them; the same ``MessageHeaders`` serves the reference composition and the confirmation mail."""
    address = f"{local}@example.org"
    templates = PersonalTemplates(escape_jinja(subject), "<p>{{ subscriber.organisation }}</p>\n", "x\n")
    reply_to = f'"{reply_name.replace(chr(92), "").replace(chr(34), "")}" <info@vaimh.example>'
    frame = MessageFrame(templates, from_name, "news@vaimh.example", LIST_ID, reply_to=reply_to)
    recipient = Recipient(email=address, first_name=name, organisation=organisation)
    links = RecipientLinks(UNSUBSCRIBE, "https://p", "https://v", MAILTO if mailto else "")
    raw = frame.stamp(recipient, links, "<c1.42@vaimh.example>", WHEN).raw
    assert raw.isascii()

    modern = parse(raw, email.policy.default)
    old = parse(raw, email.policy.compat32)
    assert isinstance(modern, EmailMessage)
    for message in (modern, old):
        assert sorted(key.lower() for key in message) == sorted(OURS)  # each once, no other
        assert old["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "\n" not in str(message["Subject"]).replace("\r\n ", "")

    # To: exactly one address, ours, with the name as we set it
    [to] = modern["To"].addresses
    assert to.addr_spec == address
    [(to_name, to_address)] = getaddresses([str(old["To"])])
    assert to_address == address
    expected = display_text(name)
    assert conforming(to_name) == expected
    assert to.display_name.replace(" ", "") == expected.replace(" ", "")  # see test_frame: Python's space
    assert CONTROL.search(expected) is None

    [sender] = modern["From"].addresses
    assert sender.addr_spec == "news@vaimh.example"
    [(from_display, from_address)] = getaddresses([str(old["From"])])
    assert from_address == "news@vaimh.example"
    assert conforming(from_display) == display_text(from_name)
    [reply] = modern["Reply-To"].addresses
    assert reply.addr_spec == "info@vaimh.example"
    assert conforming(getaddresses([str(old["Reply-To"])])[0][0]) == display_text(
        reply_name.replace("\\", "").replace('"', "")
    )
    assert str(modern["List-Id"]) == LIST_ID
    unsubscribe = f"<{UNSUBSCRIBE}>" + (f", <{MAILTO}>" if mailto else "")
    assert f"List-Unsubscribe: {unsubscribe}".encode() in head_of(raw)
    assert str(modern["Subject"]) == plain_text(subject)
    assert conforming(str(old["Subject"])) == plain_text(subject)
    check_lines(head_of(raw))


@settings(max_examples=300, deadline=None)
@given(subject=st.text(min_size=1, max_size=400).filter(lambda s: not s.isascii()))
def test_a_non_ascii_subject_is_encoded_words_of_at_most_75_characters(subject: str) -> None:
    templates = PersonalTemplates(escape_jinja(subject), "<p></p>\n", "x\n")
    frame = MessageFrame(templates, "VAIMH News", "news@vaimh.example", LIST_ID)
    links = RecipientLinks(UNSUBSCRIBE, "https://p", "https://v")
    raw = frame.stamp(Recipient(email="a@example.org"), links, "<c1.42@vaimh.example>", WHEN).raw
    head = head_of(raw)
    start = next(i for i, line in enumerate(head) if line.startswith(b"Subject:"))
    lines = [head[start]]
    for line in head[start + 1 :]:
        if not line.startswith(b" "):
            break
        lines.append(line)
    if not plain_text(subject).isascii():
        assert lines[0].startswith(b"Subject: =?utf-8?b?")
    for line in lines:
        assert len(line) <= 78, line
        for word in ENCODED_WORD.findall(line):
            assert len(word) <= 75, word
    assert str(parse(raw, email.policy.default)["Subject"]) == plain_text(subject)


def test_a_subject_that_looks_like_an_encoded_word_is_encoded_itself() -> None:
    headers = MessageHeaders("VAIMH News", "news@vaimh.example", LIST_ID)
    line = headers.subject_line("=?utf-8?q?Free_money?=")
    assert line.startswith("Subject: =?utf-8?b?") and "Free_money" not in line
    assert conforming(line.removeprefix("Subject: ")) == "=?utf-8?q?Free_money?="


def test_a_long_ascii_subject_folds_at_spaces_within_78() -> None:
    headers = MessageHeaders("VAIMH News", "news@vaimh.example", LIST_ID)
    subject = " ".join(["relationship"] * 30)
    line = headers.subject_line(subject)
    assert all(len(part) <= 78 for part in line.split("\r\n"))
    assert line.replace("\r\n", "") == f"Subject: {subject}"


@pytest.mark.parametrize(
    ("reply_to", "header"),
    [
        ("info@vaimh.example", "Reply-To: info@vaimh.example"),
        ("VAIMH Office <info@vaimh.example>", 'Reply-To: "VAIMH Office" <info@vaimh.example>'),
        ('"VAIMH, Office" <info@vaimh.example>', 'Reply-To: "VAIMH, Office" <info@vaimh.example>'),
    ],
)
def test_a_configured_reply_to_is_one_address(reply_to: str, header: str) -> None:
    headers = MessageHeaders("VAIMH News", "news@vaimh.example", LIST_ID, reply_to)
    assert headers.fixed_lines[0] == header


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reply_to", "info@vaimh.example, evil@evil.example"),
        ("reply_to", "info@vaimh.example\r\nBcc: evil@evil.example"),
        ("from_address", "news@vaimh.example>\r\nBcc: x@evil.example"),
        ("list_id", "VAIMH News <news vaimh>"),
    ],
)
def test_a_sender_value_that_is_not_one_address_is_refused(field: str, value: str) -> None:
    values = {"from_name": "VAIMH", "from_address": "news@vaimh.example", "list_id_value": LIST_ID}
    values["list_id_value" if field == "list_id" else field] = value
    with pytest.raises(DeliveryError, match=r"address|list id"):
        MessageHeaders(**values)


def test_a_recipient_address_with_a_line_break_is_refused_not_sent() -> None:
    headers = MessageHeaders("VAIMH News", "news@vaimh.example", LIST_ID)
    with pytest.raises(DeliveryError, match="recipient address"):
        headers.to_line("Ana", "ana@example.org\r\nBcc: evil@evil.example")


@pytest.mark.parametrize(
    "name",
    [
        'Eve" <evil@evil.example>, "x ' + "y" * 60,  # long enough that a 78-column folder folds it
        ('Eve" <evil@evil.example>, "x' + " ") * 40,  # past 998
        "=?utf-8?b?DQpSZXBseS1UbzogeEBldmlsLmV4YW1wbGUNCg0KQ2FsbCArMSA1NTUgMDEwMCBub3c=?=",
    ],
)
def test_the_reference_composition_keeps_our_headers_whoever_serialises_it(name: str) -> None:
    """``build_message`` is serialised by ``message_bytes`` and, for the preview's .eml download, with
    the message's own policy: neither may re-fold a display name out of its quotes."""
    from outreach.config import load_config
    from outreach.delivery.message import Envelope, build_message, message_bytes
    from outreach.render.personal import Personalised
    from tests.conftest import REPO, TEST_SECRET

    config = load_config(REPO, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})
    envelope = Envelope(
        "VAIMH News",
        "news@vaimh.example",
        "ana@example.org",
        "<c1.1@vaimh.example>",
        WHEN,
        reply_to="info@vaimh.example",
        to_name=name,
    )
    links = RecipientLinks(UNSUBSCRIBE, "https://p", "https://v", MAILTO)
    message = build_message(envelope, Personalised("Hello", "<p>Hello</p>\n", "Hello\n"), links, config)
    for raw in (message_bytes(message), message.as_bytes()):
        old = parse(raw, email.policy.compat32)
        [(display, address)] = getaddresses([str(old["To"])])
        assert address == "ana@example.org"
        assert conforming(display) == display_text(name)
        modern = parse(raw, email.policy.default)
        assert isinstance(modern, EmailMessage)
        assert [a.addr_spec for a in modern["To"].addresses] == ["ana@example.org"]
        assert sorted(key.lower() for key in modern) == sorted(OURS)
        # the multipart's own Content-Type is the email package's, not ours
        check_lines([li for li in head_of(raw) if not li.startswith(b"Content-Type:")])
