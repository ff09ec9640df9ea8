"""The per-recipient shortcuts give exactly what the general code gives.

Each shortcut skips work for the common case (a reader's line that is its own quoted-printable
encoding, a name that fits one encoded word, a value already on one short line, a message with no line
starting with a dot); each is checked here against the general path over arbitrary input.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.config import load_config
from outreach.content import read_issue
from outreach.delivery.bodies import CRLF, quoted_printable
from outreach.delivery.frame import MessageFrame
from outreach.delivery.headers import encoded_words
from outreach.models import Recipient
from outreach.render import render_issue
from outreach.render.personal import FIELD_LIMIT, PersonalTemplates, _one_line
from outreach.tokens import recipient_links
from outreach.transports.smtp import dot_stuff
from tests.conftest import EXAMPLE_ISSUE, REPO, TEST_SECRET

LINE_TEXT = st.text(alphabet=st.characters(max_codepoint=400, exclude_characters="\r\n"), max_size=130)
QP_EDGES = st.text(alphabet=" .=\t-aZé", max_size=80)
LONG_ASCII = st.text(alphabet="x. ", min_size=60, max_size=240)


def b2a_qp(text: str) -> bytes:
    return binascii.b2a_qp((text + CRLF).encode("utf-8"), istext=True)[:-2]


@settings(max_examples=400)
@given(st.one_of(LINE_TEXT, QP_EDGES, LONG_ASCII))
def test_a_line_is_quoted_printable_exactly_as_binascii_writes_it(line: str) -> None:
    assert quoted_printable(line) == b2a_qp(line)


def test_a_lone_dot_and_trailing_space_are_still_encoded() -> None:
    assert quoted_printable(".") == b"=2E"
    assert quoted_printable("Hello ") == b"Hello=20"
    assert quoted_printable("a=b") == b"a=3Db"
    assert quoted_printable("x" * 76) == b"x" * 75 + b"=\r\nx"


@settings(max_examples=400)
@given(LINE_TEXT)
def test_a_value_is_one_short_line_as_splitting_makes_it(value: str) -> None:
    assert _one_line(value) == " ".join(value[: FIELD_LIMIT * 2].split())[:FIELD_LIMIT]


@settings(max_examples=400)
@given(st.text(max_size=40), st.integers(min_value=0, max_value=75))
def test_encoded_words_decode_to_the_text_and_keep_their_lengths(text: str, first: int) -> None:
    text = text.encode("utf-8", "ignore").decode("utf-8", "ignore")  # no lone surrogates
    words = encoded_words(text, first)
    assert all(len(word) <= 75 for word in words)
    assert len(words[0]) <= max(first, 0) or words[0] == ""
    decoded = b"".join(base64.b64decode(word[10:-2]) for word in words if word)
    assert decoded.decode("utf-8") == text


def frame_for(html: str, text: str) -> MessageFrame:
    templates = PersonalTemplates("Winter", html, text)
    return MessageFrame(templates, "VAIMH News", "news@vaimh.example", "VAIMH News <news.vaimh.example>")


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet="ab .\n", max_size=40),
    st.text(alphabet="ab .é\n", max_size=40),
    st.text(alphabet="xy .", max_size=12),
)
def test_a_message_said_to_be_dot_free_needs_no_dot_stuffing(html: str, text: str, name: str) -> None:
    """The frame says whether a line of the message starts with a dot, from the runs it encoded once
    and the reader's own lines; SMTP trusts it instead of scanning the message."""
    frame = frame_for(
        "<p>" + html.replace("\n", "\n<p>") + "\n{{ subscriber.first_name }}\n",
        text + "\n{{ subscriber.first_name }}\n",
    )
    links = recipient_links("https://news.vaimh.example", TEST_SECRET, "7", "winter")
    reader = Recipient(email="ana@example.org", first_name=name)
    stamped = frame.stamp(reader, links, "<1.7.x@vaimh.example>", datetime(2026, 12, 1, tzinfo=UTC))
    starts_with_dot = dot_stuff(stamped.raw) != stamped.raw
    assert stamped.dot_free is not starts_with_dot
    assert stamped.seven_bit is stamped.raw.isascii()


def test_the_example_issue_says_truly_whether_it_is_dot_free_and_its_parts_match_the_whole_render() -> None:
    repo_config = load_config(REPO, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})
    compiled = render_issue(read_issue(EXAMPLE_ISSUE), repo_config)
    frame = MessageFrame(
        compiled.templates, "VAIMH News", "news@vaimh.example", "VAIMH News <news.vaimh.example>"
    )
    links = recipient_links("https://news.vaimh.example", TEST_SECRET, "7", compiled.issue.slug)
    for reader in (
        Recipient(email="ana@example.org", first_name=".Ana"),
        Recipient(email="josé@ejemplo.example", first_name="José"),  # an SMTPUTF8 address: 8-bit head
    ):
        stamped = frame.stamp(reader, links, "<1.7.x@vaimh.example>", datetime(2026, 12, 1, tzinfo=UTC))
        assert stamped.dot_free == (dot_stuff(stamped.raw) == stamped.raw)
        assert stamped.seven_bit is stamped.raw.isascii()
        assert stamped.seven_bit is reader.email.isascii()
    reader = Recipient(email="ana@example.org", first_name=".Ana")
    stamped = frame.stamp(reader, links, "<1.7.x@vaimh.example>", datetime(2026, 12, 1, tzinfo=UTC))
    whole = compiled.templates.render(reader, links)
    assert stamped.parts.made() == (whole.text.replace("\n", "\r\n"), whole.html.replace("\n", "\r\n"))
