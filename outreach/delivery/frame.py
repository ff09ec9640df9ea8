"""The per-recipient fast path: a MIME frame computed once per campaign, stamped per recipient.

Building an ``EmailMessage`` per recipient costs ~5 ms for a 60-90 KB issue; the frame costs a few
tens of microseconds on top of the personalisation: the headers every recipient shares, the multipart
skeleton and the boundary are fixed per campaign, and only To, Subject (when personalised), Date,
Message-ID and List-Unsubscribe plus the two bodies are filled in.

Headers come from ``outreach.delivery.headers`` (the one header path); bodies are 7-bit
(``outreach.delivery.bodies``), so the message passes any relay unchanged and its DKIM signature holds.
A recipient's values are cleaned of control characters before they reach either. The property tests in
tests/delivery check the result against the slow ``EmailMessage`` composition.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from datetime import datetime, tzinfo
from email.utils import format_datetime
from typing import Any

import jinja2

from outreach.delivery.bodies import Body, HtmlPart, Shape, TextPart, html_body, text_body
from outreach.delivery.headers import (
    CRLF,
    MessageHeaders,
    RecipientHeaders,
    list_unsubscribe,
    plain_text,
    unfolded,
)
from outreach.errors import TemplateError
from outreach.models import Recipient, RecipientLinks
from outreach.render.personal import Personalised, PersonalTemplates, recipient_context
from outreach.transports.base import Parts

_Mail = Personalised | Callable[[], Personalised]
# The address is not cleaned but checked where it becomes a header: a cleaned copy could differ from
# the envelope recipient.
_TEXT_FIELDS = tuple(
    f.name for f in fields(Recipient) if f.name not in ("email", "attributes", "fields", "topics")
)


class Stamped:
    """One recipient's serialised message and the values a transport's JSON API needs.

    ``mail`` (the subject, HTML and text as strings) is put together only when asked for: SMTP sends
    ``raw`` and never needs it, and joining a 60 KB part into a string is a tenth of a recipient's budget.
    """

    __slots__ = ("_mail", "dot_free", "raw", "seven_bit", "subject", "to_header")

    def __init__(
        self,
        raw: bytes,
        subject: str,
        mail: _Mail,
        to_header: str,
        dot_free: bool = False,
        seven_bit: bool = False,
    ) -> None:
        self.raw = raw
        self.subject = subject
        self.to_header = to_header  # the To value on one line, as sent
        self.dot_free = dot_free  # no line of ``raw`` starts with a dot
        self.seven_bit = seven_bit  # no byte of ``raw`` is above 127
        self._mail = mail

    @property
    def mail(self) -> Personalised:
        mail = self._mail
        if not isinstance(mail, Personalised):
            mail = self._mail = mail()
        return mail

    @property
    def parts(self) -> Parts:
        """The text and HTML for an ``OutgoingMessage``, still to be put together."""
        return Parts(lambda: (self.mail.text, self.mail.html))


def clean_recipient(recipient: Recipient) -> Recipient:
    """The recipient with control characters taken out of every value but the address (stored text is
    not trusted to be clean: a NUL or a stray CR must not reach a 7-bit body or a header)."""
    values = [getattr(recipient, name) for name in _TEXT_FIELDS]
    attributes, columns = recipient.attributes, recipient.fields
    if all(v.isprintable() for v in values) and all(
        k.isprintable() and v.isprintable() for k, v in (*attributes, *columns)
    ):
        return recipient
    cleaned: dict[str, Any] = {name: plain_text(v) for name, v in zip(_TEXT_FIELDS, values, strict=True)}
    cleaned["attributes"] = tuple((plain_text(k), plain_text(v)) for k, v in attributes)
    cleaned["fields"] = tuple((plain_text(k), plain_text(v)) for k, v in columns)
    return replace(recipient, **cleaned)


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
        self.headers = MessageHeaders(from_name, from_address, list_id, reply_to, extra_headers)
        self.from_header = self.headers.from_value
        self.boundary = boundary or f"=_outreach_{secrets.token_hex(16)}"
        # ``template: plain`` renders no HTML: the message is one text/plain part, no multipart.
        self.text_only = not templates.html_source
        self._single = {
            cte: (
                f'MIME-Version: 1.0{CRLF}Content-Type: text/plain; charset="utf-8"{CRLF}'
                f"Content-Transfer-Encoding: {cte}{CRLF}{CRLF}"
            )
            for cte in ("7bit", "quoted-printable")
        }
        self._mime = (
            f"MIME-Version: 1.0{CRLF}"
            f'Content-Type: multipart/alternative;{CRLF} boundary="{self.boundary}"{CRLF}{CRLF}'
        )
        self._part = f'--{self.boundary}{CRLF}Content-Type: text/%s; charset="utf-8"{CRLF}'
        self._part_heads = {
            (subtype, cte): f"{self._part % subtype}Content-Transfer-Encoding: {cte}{CRLF}{CRLF}".encode()
            for subtype in ("plain", "html")
            for cte in ("7bit", "quoted-printable")
        }
        self._end_bytes = f"{CRLF}--{self.boundary}--{CRLF}".encode("ascii")
        self._crlf = CRLF.encode("ascii")
        self._html = HtmlPart(Shape(templates.html_source))
        self._text = TextPart(Shape(templates.text_source))
        self._lines = self._line_templates(templates)
        # the second (and its zone) last formatted, and its header: one formatting per second
        self._date: tuple[tuple[datetime, tzinfo | None], str] | None = None

    def list_unsubscribe(self, links: RecipientLinks) -> str:
        """The one-click URL, then the signed mailto when the site has an unsubscribe mailbox."""
        return list_unsubscribe(links.unsubscribe, links.unsubscribe_mailto)

    def stamp(
        self,
        recipient: Recipient,
        links: RecipientLinks,
        message_id: str,
        date: datetime,
        extra: Mapping[str, Any] | None = None,
    ) -> Stamped:
        """Personalise and serialise one recipient's message: the whole per-recipient cost. ``extra``
        adds template variables (the confirmation mail's ``confirm_url``)."""
        recipient = clean_recipient(recipient)
        context = recipient_context(recipient, links)
        if extra:
            context.update(extra)
        subject, mail, text, html = self._personalise(context)
        name = recipient.full_name
        to_line = self.headers.to_line(name, recipient.email)
        values = RecipientHeaders(
            name,
            recipient.email,
            subject,
            self._date_header(date),
            message_id,
            links.unsubscribe,
            links.unsubscribe_mailto,
        )
        # Header lines start with a name or a fold's space, the MIME lines with a name or "--": only
        # the bodies' lines can start with a dot. The subject as the Subject header has it (JSON APIs).
        if self.text_only:
            head = self.headers.block(to_line, values) + self._single[text.encoding]
            raw = b"".join((head.encode("utf-8"), text.data, self._crlf))
            dot_free = not text.dotted
            return Stamped(raw, plain_text(subject), mail, unfolded(to_line), dot_free, head.isascii())
        head = self.headers.block(to_line, values) + self._mime
        raw = b"".join(
            (
                head.encode("utf-8"),  # ASCII but for an SMTPUTF8 address
                self._part_heads["plain", text.encoding],
                text.data,
                self._crlf,
                self._part_heads["html", html.encoding],
                html.data,
                self._end_bytes,
            )
        )
        # The bodies are encoded to 7 bits, so only the head (an SMTPUTF8 address) can hold 8-bit bytes;
        # ``str.isascii`` is free, while SMTP would otherwise scan 60-100 KB of bytes to learn it.
        dot_free = not (text.dotted or html.dotted)
        return Stamped(raw, plain_text(subject), mail, unfolded(to_line), dot_free, head.isascii())

    def _personalise(self, context: dict[str, Any]) -> tuple[str, _Mail, Body, Body]:
        """The recipient's subject; their subject, HTML and text as strings (or how to join them, when
        only a JSON API needs them); and the two parts encoded: line by line when the templates allow
        (only the lines that change are rendered and encoded), else whole."""
        if self._lines is not None:
            part = self._lines.render_context(context)
            html_lines = self._html.shape.lines_of(part.html)
            text_lines = self._text.shape.lines_of(part.text)
            if html_lines is not None and text_lines is not None:
                html_part, text_part = self._html, self._text

                def whole() -> Personalised:
                    return Personalised(
                        part.subject,
                        html_part.shape.assemble(html_lines),
                        text_part.shape.assemble(text_lines),
                    )

                return part.subject, whole, text_part.body(text_lines), html_part.body(html_lines)
        mail = self.templates.render_context(context)
        # A value may hold its own line breaks (an author's ``replace(' ', '\n')``): mail has CRLF only.
        mail = Personalised(mail.subject, _crlf_only(mail.html), _crlf_only(mail.text))
        return mail.subject, mail, text_body(mail.text), html_body(mail.html)

    def _line_templates(self, templates: PersonalTemplates) -> PersonalTemplates | None:
        """The subject and the changing lines of both parts as templates of their own, when rendering
        them alone gives what the whole templates give (checked here once, for a sample reader, and
        per recipient by the number of lines). A construct over several lines (an expression, a
        comment) does not compile alone or gives fewer lines, and its template is rendered whole."""
        html, text = self._html.shape, self._text.shape
        try:
            lines = PersonalTemplates(templates.subject_source, html.changing_source, text.changing_source)
        except (jinja2.TemplateError, TemplateError):  # a construct over lines does not compile alone
            return None
        sample = recipient_context(
            Recipient(email="sample@example.org", first_name="Sample", last_name="Reader"),
            RecipientLinks("https://u.example/u", "https://u.example/p", "https://u.example/v"),
        )
        try:
            whole = self.templates.render_context(sample)
            part = lines.render_context(sample)
        except Exception:  # staff expressions may fail for a made-up reader: then always render whole
            return None
        html_lines, text_lines = html.lines_of(part.html), text.lines_of(part.text)
        if html_lines is None or text_lines is None:
            return None
        if (html.assemble(html_lines), text.assemble(text_lines)) != (whole.html, whole.text):
            return None
        return lines

    def _date_header(self, date: datetime) -> str:
        """The Date header shows whole seconds, so one formatting serves every message of a second
        (the chunks of several connections are stamped in turn, each with its own ``now``)."""
        second = (date.replace(microsecond=0), date.tzinfo)
        cached = self._date  # one read: threads of one runner share the frame
        if cached is None or cached[0] != second:
            cached = self._date = (second, format_datetime(date))
        return cached[1]


_BARE_LINE_END = re.compile(r"\r\n|\r|\n")


def _crlf_only(text: str) -> str:
    """Every line end as CRLF (SMTP and RFC 5322 allow no bare CR or LF); only on the whole-render path."""
    return _BARE_LINE_END.sub("\r\n", text)
