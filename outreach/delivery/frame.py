"""The per-recipient fast path: a MIME frame computed once per campaign, stamped per recipient.

Building an ``EmailMessage`` per recipient costs ~5 ms for a 60-90 KB issue (DESIGN.md section 8); the
frame costs a few tens of microseconds on top of the personalisation: the header block, the multipart
skeleton and the boundary are fixed per campaign, and only To, Subject (when personalised), Date,
Message-ID and List-Unsubscribe plus the two bodies are filled in.

Bodies go out as ``8bit`` (``7bit`` when ASCII). That needs lines under SMTP's 998 octets: the render
step wraps the HTML (``outreach.render.compiled.wrap_long_lines``) and per-recipient values are capped,
and the property test in tests/delivery checks both against the slow ``EmailMessage`` composition.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr

from outreach.models import Recipient, RecipientLinks
from outreach.render.personal import Personalised, PersonalTemplates

CRLF = "\r\n"


def _clean(value: str) -> str:
    """One line, no control characters: header values must never carry CR or LF (injection)."""
    return " ".join(value.split())


def encode_header_value(value: str) -> str:
    """ASCII short values as they are; anything else as folded RFC 2047 UTF-8 encoded words."""
    value = _clean(value)
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep=CRLF)


def address_header(name: str, address: str) -> str:
    """``Name <address>``: the name quoted as needed, or as folded UTF-8 encoded words when it is not
    ASCII (one unfolded word would pass 998 octets for the longest names the schema allows)."""
    name = _clean(name)
    if name.isascii():
        return formataddr((name, address))
    return f"{encoded_words(name)} <{address}>"


def encoded_words(text: str, limit: int = 45) -> str:
    """RFC 2047 ``B`` words of at most ``limit`` UTF-8 bytes (75 characters each), never splitting a
    character, one per folded line. (The email package's folder can move a space between words for
    some astral-plane names, which is why this is our own.)"""
    words: list[bytes] = []
    current = b""
    for character in text:
        encoded = character.encode("utf-8")
        if current and len(current) + len(encoded) > limit:
            words.append(current)
            current = b""
        current += encoded
    words.append(current)
    return (CRLF + " ").join(f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words)


@dataclass(frozen=True, slots=True)
class Stamped:
    """One recipient's serialised message and the values a transport's JSON API needs."""

    raw: bytes
    subject: str
    mail: Personalised
    to_header: str


class MessageFrame:
    """Everything about a campaign's messages that is the same for every recipient."""

    def __init__(
        self,
        templates: PersonalTemplates,
        from_name: str,
        from_address: str,
        list_id: str,
        reply_to: str = "",
        extra_headers: Sequence[tuple[str, str]] = (),
        boundary: str | None = None,
    ) -> None:
        self.templates = templates.with_line_ends(CRLF)  # compiled once, CRLF as SMTP wants
        self.boundary = boundary or f"=_outreach_{secrets.token_hex(16)}"
        self.from_header = address_header(from_name, from_address)
        fixed = [("From", self.from_header)]
        if reply_to:
            fixed.append(("Reply-To", reply_to))
        fixed += [("List-Id", list_id), *extra_headers]
        self._fixed = "".join(f"{name}: {value}{CRLF}" for name, value in fixed)
        self._mime = (
            f"List-Unsubscribe-Post: List-Unsubscribe=One-Click{CRLF}"
            f"MIME-Version: 1.0{CRLF}"
            f'Content-Type: multipart/alternative; boundary="{self.boundary}"{CRLF}{CRLF}'
        )
        self._part = f'--{self.boundary}{CRLF}Content-Type: text/%s; charset="utf-8"{CRLF}'
        self._end_bytes = f"{CRLF}--{self.boundary}--{CRLF}".encode("ascii")
        self._crlf_part_html = CRLF.encode("ascii")
        self._date: tuple[datetime, str] | None = None  # a chunk's messages share one moment

    def list_unsubscribe(self, links: RecipientLinks) -> str:
        """The one-click URL, then the signed mailto when the site has an unsubscribe mailbox."""
        value = f"<{links.unsubscribe}>"
        if links.unsubscribe_mailto:
            value += f", <{links.unsubscribe_mailto}>"
        return value

    def stamp(self, recipient: Recipient, links: RecipientLinks, message_id: str, date: datetime) -> Stamped:
        """Personalise and serialise one recipient's message: the whole per-recipient cost."""
        mail = self.templates.render(recipient, links)
        to_header = address_header(recipient.full_name, recipient.email)
        head = (
            f"{self._fixed}"
            f"To: {to_header}{CRLF}"
            f"Subject: {encode_header_value(mail.subject)}{CRLF}"
            f"Date: {self._date_header(date)}{CRLF}"
            f"Message-ID: {message_id}{CRLF}"
            f"List-Unsubscribe: {self.list_unsubscribe(links)}{CRLF}"
            f"{self._mime}"
        )
        # Each part is encoded on its own: the HTML is ASCII (render made it so), which encodes at memcpy
        # speed, instead of one big string that a single non-ASCII character would slow down.
        raw = b"".join(
            (
                head.encode("utf-8"),
                self._part_head("plain", mail.text),
                mail.text.encode("utf-8"),
                self._crlf_part_html,
                self._part_head("html", mail.html),
                mail.html.encode("utf-8"),
                self._end_bytes,
            )
        )
        return Stamped(raw=raw, subject=mail.subject, mail=mail, to_header=to_header)

    def _date_header(self, date: datetime) -> str:
        cached = self._date  # one read: threads of one runner share the frame
        if cached is None or cached[0] != date:
            cached = self._date = (date, format_datetime(date))
        return cached[1]

    def _part_head(self, subtype: str, content: str) -> bytes:
        # The templates already end lines with CRLF and subscriber values are single lines.
        encoding = "7bit" if content.isascii() else "8bit"
        return f"{self._part % subtype}Content-Transfer-Encoding: {encoding}{CRLF}{CRLF}".encode("ascii")
