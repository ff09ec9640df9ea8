"""The per-recipient half of rendering: three compiled Jinja2 templates and nothing else.

Everything expensive (Markdown, MJML, inlining) happened once per issue; what remains per recipient is
filling a few placeholders. Autoescape is on for HTML, and subscriber data is passed as *data*: a name
like ``{{ 7*7 }}`` or ``<script>`` is printed as text, never evaluated or interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2

from outreach.models import Recipient, RecipientLinks

# A subscriber's field is data of our own database; anything longer than this is not a name but a
# mistake, and capping it keeps every line of the message within SMTP's 998 octets.
FIELD_LIMIT = 120

RECIPIENT_VARIABLES = ("subscriber", "unsubscribe_url", "preferences_url", "view_online_url")


def _environments(newline: str) -> tuple[jinja2.Environment, jinja2.Environment]:
    """(html, text) environments; Jinja2 rewrites every line end to ``newline`` when compiling."""
    common: dict[str, Any] = {
        "undefined": jinja2.ChainableUndefined,
        "newline_sequence": newline,
        "keep_trailing_newline": True,
    }
    return jinja2.Environment(autoescape=True, **common), jinja2.Environment(autoescape=False, **common)


_ENVIRONMENTS = {"\n": _environments("\n"), "\r\n": _environments("\r\n")}


@dataclass(frozen=True)
class Personalised:
    """One recipient's subject, HTML and text, ready to be framed as MIME."""

    subject: str
    html: str
    text: str


def recipient_context(recipient: Recipient, links: RecipientLinks) -> dict[str, Any]:
    """The variables an issue may use per recipient; empty fields are left out so ``default`` works."""
    subscriber: dict[str, Any] = {
        name: _one_line(value)
        for name in (
            "email",
            "first_name",
            "last_name",
            "full_name",
            "organisation",
            "role",
            "region",
            "language",
        )
        if (value := getattr(recipient, name))
    }
    subscriber["attributes"] = {k: _one_line(v) for k, v in recipient.attributes}
    return {
        "subscriber": subscriber,
        "unsubscribe_url": links.unsubscribe,
        "preferences_url": links.preferences,
        "view_online_url": links.view_online,
    }


def _one_line(value: str) -> str:
    """Subscriber data as one short line: no line breaks in the message, no lines over 998 octets."""
    return " ".join(value[: FIELD_LIMIT * 2].split())[:FIELD_LIMIT]


class PersonalTemplates:
    """Compiled once per issue; ``render`` is the whole per-recipient cost."""

    def __init__(self, subject: str, html: str, text: str, newline: str = "\n") -> None:
        self.subject_source = subject
        self.html_source = html
        self.text_source = text
        html_env, text_env = _ENVIRONMENTS[newline]
        self.newline = newline
        self._subject = text_env.from_string(subject)
        # Most subjects are the same for everyone: then it is rendered once, not for each recipient.
        self._fixed_subject = None if "{" in subject else " ".join(self._subject.render().split())
        self._html = html_env.from_string(html)
        self._text = text_env.from_string(text)

    def with_line_ends(self, ending: str) -> PersonalTemplates:
        """The same templates with other line ends: the MIME frame compiles a CRLF copy once."""
        return PersonalTemplates(self.subject_source, self.html_source, self.text_source, newline=ending)

    def render(self, recipient: Recipient, links: RecipientLinks) -> Personalised:
        context = recipient_context(recipient, links)
        return self.render_context(context)

    def render_context(self, context: dict[str, Any]) -> Personalised:
        subject = self._fixed_subject
        if subject is None:
            subject = " ".join(self._subject.render(context).split())
        return Personalised(subject=subject, html=self._html.render(context), text=self._text.render(context))


def escape_jinja(text: str) -> str:
    """Make literal ``{{``, ``{%`` and ``{#`` in rendered output inert before compiling it."""
    return (
        text.replace("{{", "\x00OPEN_EXPR\x00")
        .replace("{%", "\x00OPEN_STMT\x00")
        .replace("{#", "\x00OPEN_COMMENT\x00")
        .replace("\x00OPEN_EXPR\x00", "{{ '{{' }}")
        .replace("\x00OPEN_STMT\x00", "{{ '{%' }}")
        .replace("\x00OPEN_COMMENT\x00", "{{ '{#' }}")
    )
