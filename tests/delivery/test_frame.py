"""The fast per-recipient frame parses to the same message as the slow EmailMessage composition, and
goes out 7-bit with every line within 998 octets, whatever the recipient's name holds."""

from __future__ import annotations

import email
import email.policy
import functools
import html
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outreach.config import Config, load_config
from outreach.content import read_issue
from outreach.delivery.frame import MessageFrame, clean_recipient
from outreach.delivery.message import build_message, envelope_for, message_bytes
from outreach.models import Recipient
from outreach.render import CompiledIssue, render_issue
from outreach.render.personal import PersonalTemplates
from outreach.tokens import recipient_links
from tests.conftest import EXAMPLE_ISSUE, REPO, TEST_SECRET

# Written by the one header path in both compositions, so they must be the same bytes.
SHARED = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
WHEN = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
MAILTO = "mailto:unsubscribe@vaimh.example?subject=unsubscribe-x.y"
# The two names of the issue: an encoded word that decodes to CR LF, headers and a body, and quotes
# that closed the display name early.
ENCODED_WORD_ATTACK = "=?utf-8?b?DQpSZXBseS1UbzogeEBldmlsLmV4YW1wbGUNCg0KQ2FsbCArMSA1NTUgMDEwMCBub3c=?="
QUOTE_ATTACK = 'Eve" <evil@evil.example>, "x'
NON_ASCII_ISSUE = """---
subject: "Für {{ subscriber.first_name | default('Sie') }}: «Winter» notes ☃"
date: 2026-12-01
---
Liebe {{ subscriber.first_name | default("Freunde") }}, the café is open — Ω, 😀 and “quotes”.

= a line that starts with an equals sign, and one that ends in spaces<SPACES>

Read [our guide](https://vaimh.example/guide?a=1&b=2).
""".replace("<SPACES>", "   ")


@pytest.fixture(scope="module")
def repo_config() -> Config:
    return load_config(REPO, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


@pytest.fixture(scope="module")
def compiled(repo_config: Config) -> CompiledIssue:
    return render_issue(read_issue(EXAMPLE_ISSUE), repo_config)


@pytest.fixture(scope="module")
def non_ascii(repo_config: Config, tmp_path_factory: pytest.TempPathFactory) -> CompiledIssue:
    """An issue whose subject, text and greeting are not ASCII: the quoted-printable path."""
    path = tmp_path_factory.mktemp("issue") / "2026-12-winter-de.md"
    path.write_text(NON_ASCII_ISSUE, encoding="utf-8")
    return render_issue(read_issue(path), repo_config)


# Templates the frame cannot fill line by line: an expression over two lines, a comment block, values
# that wrap onto several lines; and a literal "{{" kept by escape_jinja.
ODD = PersonalTemplates(
    subject="{{ subscriber.first_name }} — news",
    html=(
        "<p>Dear {{ subscriber.first_name\n | default('friend') }},</p>\n"
        "<p>{{ subscriber.last_name | default('x y z') | replace(' ', '\\n') }}</p>\n<p>{{ '{{' }} café</p>\n"
    ),
    text=(
        "Dear {{ subscriber.first_name | default('a b c d e f') | replace(' ', '\\n') }},\n"
        "{# a comment\nover lines #}\nEnd ☃\n"
    ),
)
# Line by line for the sample reader, but a long last name wraps onto a second line: that recipient's
# parts are rendered whole.
WRAPPING = PersonalTemplates(
    subject="Hello",
    html="<p>Dear {{ subscriber.last_name | default('reader') | replace(' ', '\\n') }}</p>\n<p>Fixed é</p>\n",
    text="Dear {{ subscriber.last_name | default('reader') | replace(' ', '\\n') }}\nFixed é\n",
)
# A line that repeats the name: ten astral characters' references pass 998 octets.
REPEATED = PersonalTemplates(
    subject="News", html="<p>" + "{{ subscriber.first_name }} " * 10 + "</p>\n", text="Hi\n"
)


def frame_for(compiled: CompiledIssue | PersonalTemplates, config: Config) -> MessageFrame:
    sender = config.sender
    templates = compiled if isinstance(compiled, PersonalTemplates) else compiled.templates
    return MessageFrame(
        templates, sender.from_name, sender.from_address, sender.list_id, reply_to=sender.reply_to
    )


def head_lines(raw: bytes) -> dict[str, bytes]:
    """Each header's raw bytes, folds and all, by name (our messages carry each header once)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    lines = re.split(rb"\r\n(?![ \t])", head)
    return {line.split(b":", 1)[0].decode("ascii"): line for line in lines}


def canonical(text: str) -> str:
    return text.replace("\r\n", "\n").rstrip("\n")


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


ATTACKS = [
    ENCODED_WORD_ATTACK,
    QUOTE_ATTACK,
    "=?utf-8?q?Eve=22_=3Cevil=40evil.example=3E=2C_=22x?=",
    "Ana\r\nBcc: victim@example.com",
    "Ana\r\n\r\n<h1>body</h1>",
    'Mary "May"',
    "O'Brien",
    "Zoë Łukasz-Nguyễn",
    "<script>",
    "{{ 7*7 }}",
    "a,b;c",
    "back\\slash\\",
    "Renée\u2028Bcc: x@evil.example",
    "\x00\x01\x7f\x85\x9b",
    "\u202eelpmaxe.live@evil",
    "😀" * 40,
    "&" * 200,
    "É" * 300,
]
PIECES = ["=?", "?=", "utf-8", "?b?", "?q?", '"', ",", "<", ">", "@", "\\", ";", ":", " ", "\t", "\r", "\n"]
PIECES += ["\x00", "\x1b", "\u2028", "\u2029", "\x85", "é", "Ł", "😀", "\ud800", "a", "Eve", "&", "'"]
names = (
    st.text(max_size=60)
    | st.text(min_size=100, max_size=400)
    | st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
    | st.sampled_from(ATTACKS)
)
locals_ = st.from_regex(r"[a-z0-9]{1,20}([._+-][a-z0-9]{1,20}){0,3}", fullmatch=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=names,
    last=names,
    organisation=names,
    local=locals_,
    subscriber_id=st.integers(1, 10**12),
    mailto=st.booleans(),
    which=st.sampled_from(["example", "non-ascii", "odd", "repeated", "wrapping"]),
)
def test_fast_frame_matches_email_message(
    compiled: CompiledIssue,
    non_ascii: CompiledIssue,
    repo_config: Config,
    first: str,
    last: str,
    organisation: str,
    local: str,
    subscriber_id: int,
    mailto: bool,
    which: str,
) -> None:
    issue = non_ascii if which == "non-ascii" else compiled
    templates = {"odd": ODD, "repeated": REPEATED, "wrapping": WRAPPING}.get(which, issue.templates)
    recipient = Recipient(
        email=f"{local}@example.org", first_name=first, last_name=last, organisation=organisation
    )
    links = recipient_links(
        repo_config.base_url,
        repo_config.secret_key,
        str(subscriber_id),
        issue.issue.slug,
        mailto="unsubscribe@vaimh.example" if mailto else "",
    )
    message_id = f"<c1.{subscriber_id}.x@vaimh.example>"
    fast = frame_for(templates, repo_config).stamp(recipient, links, message_id, WHEN).raw

    # The frame's contract: a recipient's values are used without their control characters.
    clean = clean_recipient(recipient)
    mail = templates.render(clean, links)
    envelope = envelope_for(
        issue.issue, repo_config, clean.email, WHEN, clean.full_name, message_id=message_id
    )
    slow = message_bytes(build_message(envelope, mail, links, repo_config))

    assert fast.isascii()  # 7-bit: any relay takes it as it is
    assert max(len(line) for line in fast.split(b"\r\n")) <= 998
    assert b"\n" not in fast.replace(b"\r\n", b"") and b"\r" not in fast.replace(b"\r\n", b"")
    assert b"\x00" not in fast
    fast_head, slow_head = head_lines(fast), head_lines(slow)
    for name in SHARED:
        assert fast_head.get(name) == slow_head.get(name), name
    assert set(fast_head) == {*SHARED, "MIME-Version", "Content-Type"}
    fast_message, slow_message = parsed(fast), parsed(slow)
    assert fast_message["MIME-Version"] == "1.0"
    [to] = fast_message["To"].addresses
    assert to.addr_spec == recipient.email
    fast_parts = list(fast_message.iter_parts())
    slow_parts = list(slow_message.iter_parts())
    assert [p.get_content_type() for p in fast_parts] == ["text/plain", "text/html"]
    assert [p.get_content_type() for p in slow_parts] == ["text/plain", "text/html"]
    for part in fast_parts:
        assert part["Content-Transfer-Encoding"] in ("7bit", "quoted-printable")
    fast_text, fast_html = (canonical(p.get_content()) for p in fast_parts)
    slow_text, slow_html = (canonical(p.get_content()) for p in slow_parts)
    assert fast_text == slow_text
    # The frame writes the recipient's non-ASCII characters as references: the same document (or, when
    # references would make a line too long, the HTML goes quoted-printable).
    assert fast_html.isascii() or fast_parts[1]["Content-Transfer-Encoding"] == "quoted-printable"
    assert html.unescape(fast_html) == html.unescape(slow_html)


def test_a_non_ascii_issue_goes_out_quoted_printable_with_the_same_text(
    non_ascii: CompiledIssue, repo_config: Config
) -> None:
    recipient = Recipient(email="rene@example.org", first_name="Renée")
    links = recipient_links(repo_config.base_url, repo_config.secret_key, "7", non_ascii.issue.slug)
    frame = frame_for(non_ascii, repo_config)
    for _ in range(2):  # the second time from the frame's remembered lines
        raw = frame.stamp(recipient, links, "<x@vaimh.example>", WHEN).raw
        assert raw.isascii()
        text_body = raw.split(b"quoted-printable\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0]
        assert max(len(line) for line in text_body.split(b"\r\n")) <= 76  # RFC 2045 6.7 (5)
        message = parsed(raw)
        text, html = (part for part in message.iter_parts())
        assert text["Content-Transfer-Encoding"] == "quoted-printable"
        assert html["Content-Transfer-Encoding"] == "7bit"
        assert "Liebe Renée, the café is open — Ω, 😀 and “quotes”." in text.get_content()
        assert "a line that starts with an equals sign, and one that ends in spaces" in text.get_content()
        assert "Liebe Ren&#233;e," in html.get_content()  # the name escaped like the issue's own text
        assert str(message["Subject"]) == "Für Renée: «Winter» notes ☃"


def test_the_two_attack_names_stay_one_display_name(compiled: CompiledIssue, repo_config: Config) -> None:
    links = recipient_links(repo_config.base_url, repo_config.secret_key, "1", compiled.issue.slug)
    for name in (ENCODED_WORD_ATTACK, QUOTE_ATTACK):
        recipient = Recipient(email="a@example.org", first_name=name)
        raw = frame_for(compiled, repo_config).stamp(recipient, links, "<x@vaimh.example>", WHEN).raw
        modern = parsed(raw)
        [to_address] = modern["To"].addresses
        assert to_address.addr_spec == "a@example.org"
        # Python's parser keeps the space between two encoded words (RFC 2047 6.2 drops it)
        assert to_address.display_name.replace(" ", "") == name.replace(" ", "")
        old = email.message_from_bytes(raw, policy=email.policy.compat32)
        [(display, address)] = getaddresses([str(old["To"])])
        assert address == "a@example.org"
        assert str(make_header(decode_header(display))) == name  # the text, as typed
        for message in (modern, old):
            assert len(message.get_all("To") or []) == 1
            assert [str(v) for v in message.get_all("Reply-To") or []] == ["info@vaimh.example"]
            assert message["Bcc"] is None
        to = head_lines(raw)["To"]
        if name == QUOTE_ATTACK:
            assert to == b'To: "Eve\\" <evil@evil.example>, \\"x" <a@example.org>'
        else:  # the look-alike is itself encoded, never sent raw for a reader to decode
            assert to.startswith(b"To: =?utf-8?b?") and b"DQpS" not in to


def test_long_unsubscribe_url_stays_one_plain_header(compiled: CompiledIssue, repo_config: Config) -> None:
    links = recipient_links(
        repo_config.base_url + "/" + "x" * 300,
        repo_config.secret_key,
        "1",
        compiled.issue.slug,
        mailto="unsubscribe@vaimh.example",
    )
    raw = (
        frame_for(compiled, repo_config)
        .stamp(Recipient(email="a@example.org"), links, "<x@vaimh.example>", WHEN)
        .raw
    )
    line = next(li for li in raw.split(b"\r\n") if li.startswith(b"List-Unsubscribe:"))
    assert line == f"List-Unsubscribe: <{links.unsubscribe}>, <{links.unsubscribe_mailto}>".encode()
    assert b"=?" not in line


def test_a_recipient_values_control_characters_never_reach_a_body(
    compiled: CompiledIssue, repo_config: Config, tmp_path: Path
) -> None:
    links = recipient_links(repo_config.base_url, repo_config.secret_key, "1", compiled.issue.slug)
    recipient = Recipient(email="a@example.org", first_name="A\x00n\x1ba\x7f\x9b", last_name="B\u202ec")
    stamped = frame_for(compiled, repo_config).stamp(recipient, links, "<x@vaimh.example>", WHEN)
    assert re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", stamped.raw) is None
    assert "Ana" in stamped.mail.text and "\u202e" not in stamped.mail.text


def test_a_line_that_would_pass_998_octets_goes_quoted_printable(repo_config: Config) -> None:
    links = recipient_links(repo_config.base_url, repo_config.secret_key, "1", "x")
    stamped = frame_for(REPEATED, repo_config).stamp(
        Recipient(email="a@example.org", first_name="😀" * 120), links, "<x@vaimh.example>", WHEN
    )
    assert stamped.raw.isascii()
    assert max(len(line) for line in stamped.raw.split(b"\r\n")) <= 998
    html_part = parsed(stamped.raw).get_body(("html",))
    assert html_part is not None and html_part["Content-Transfer-Encoding"] == "quoted-printable"
    assert canonical(html_part.get_content()) == canonical(stamped.mail.html)


def test_a_template_that_cannot_go_line_by_line_is_rendered_whole(repo_config: Config) -> None:
    links = recipient_links(repo_config.base_url, repo_config.secret_key, "1", "x")
    recipient = Recipient(email="a@example.org", first_name="Zoë Renée", last_name="Ñúñez-Łukasz Smith")
    stamped = frame_for(ODD, repo_config).stamp(recipient, links, "<x@vaimh.example>", WHEN)
    expected = ODD.with_line_ends("\r\n").render(recipient, links)
    crlf = functools.partial(re.sub, r"\r?\n", "\r\n")  # a value's own line breaks become CRLF too
    assert (stamped.mail.html, stamped.mail.text) == (crlf(expected.html), crlf(expected.text))
    text, page = (canonical(p.get_content()) for p in parsed(stamped.raw).iter_parts())
    assert text == canonical(stamped.mail.text) and "Dear Zoë\nRenée," in text
    assert html.unescape(page) == html.unescape(canonical(stamped.mail.html))
