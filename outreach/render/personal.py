"""The per-recipient half of rendering: three compiled Jinja2 templates and nothing else.

Everything expensive (Markdown, MJML, inlining) happened once per issue; what remains per recipient is
filling a few placeholders. Autoescape is on for HTML, and subscriber data is passed as *data*: a name
like ``{{ 7*7 }}`` or ``<script>`` is printed as text, never evaluated or interpreted.

The expressions in these templates were written by staff, so they run in Jinja2's immutable sandbox
with no globals and only the filters of ``outreach.content.expressions``, and every template is held
to that module's rules before it is compiled: a template stored in a campaign row is checked just as
one fresh from an issue. What the sandbox still refuses while rendering is raised, never printed blank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes

from outreach.content.expressions import ExpressionProblem, check_template
from outreach.content.sandbox import RENDER_ERRORS, issue_sandbox
from outreach.errors import TemplateError
from outreach.models import Recipient, RecipientLinks

# A subscriber's field is data of our own database; anything longer than this is not a name but a
# mistake, and capping it keeps every line of the message within SMTP's 998 octets.
FIELD_LIMIT = 120

RECIPIENT_VARIABLES = ("subscriber", "recipient", "unsubscribe_url", "preferences_url", "view_online_url")


def _environments(newline: str) -> tuple[jinja2.Environment, jinja2.Environment]:
    """(html, text) environments; Jinja2 rewrites every line end to ``newline`` when compiling."""
    return issue_sandbox(True, newline), issue_sandbox(False, newline)


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
    subscriber["topics"] = recipient.topics
    # ``recipient`` is the reader as a one-off letter knows them: the subscriber's fields, then the
    # columns of the contacts file (which win: the letter was written for that file). Without a file
    # it is the subscriber's own dict: no copy per recipient of a newsletter.
    columns = {k: line for k, v in recipient.fields if (line := _one_line(v))}
    return {
        "subscriber": subscriber,
        "recipient": {**subscriber, **columns} if columns else subscriber,
        # What '::: only' sections compare, as plain names (``outreach.content.conditions``): exactly
        # the stored values, so a section means what the segment rule with the same values means.
        "reader_role": recipient.role,
        "reader_language": recipient.language,
        "reader_region": recipient.region,
        "reader_topics": recipient.topics,
        "unsubscribe_url": links.unsubscribe,
        "preferences_url": links.preferences,
        "view_online_url": links.view_online,
    }


def _one_line(value: str) -> str:
    """Subscriber data as one short line: no line breaks in the message, no lines over 998 octets."""
    fine = len(value) <= FIELD_LIMIT and value.isprintable() and "  " not in value
    if fine and value[:1] != " " and value[-1:] != " ":  # already one short line (nearly every value)
        return value
    return " ".join(value[: FIELD_LIMIT * 2].split())[:FIELD_LIMIT]


class PersonalTemplates:
    """Compiled once per issue; ``render`` is the whole per-recipient cost."""

    def __init__(self, subject: str, html: str, text: str, newline: str = "\n") -> None:
        self.subject_source = subject
        self.html_source = html
        self.text_source = text
        html_env, text_env = _ENVIRONMENTS[newline]
        self.newline = newline
        self._subject = _compile(text_env, subject, "subject")
        # Most subjects are the same for everyone: then it is rendered once, not for each recipient.
        self._fixed_subject = None if "{" in subject else " ".join(self._subject.render().split())
        self._html = _compile(html_env, html, "HTML part")
        self._text = _compile(text_env, text, "text part")

    def with_line_ends(self, ending: str) -> PersonalTemplates:
        """The same templates with other line ends: the MIME frame compiles a CRLF copy once."""
        return PersonalTemplates(self.subject_source, self.html_source, self.text_source, newline=ending)

    def render(self, recipient: Recipient, links: RecipientLinks) -> Personalised:
        context = recipient_context(recipient, links)
        return self.render_context(context)

    def render_context(self, context: dict[str, Any]) -> Personalised:
        try:
            subject = self._fixed_subject
            if subject is None:
                subject = " ".join(render(self._subject, context).split())
            return Personalised(
                subject=subject, html=render(self._html, context), text=render(self._text, context)
            )
        except RENDER_ERRORS as err:  # only a template that slipped past check_template gets here
            message = getattr(err, "message", None) or str(err)
            raise TemplateError(f"the mail's template cannot be personalised: {message}") from None


def render(template: jinja2.Template, context: dict[str, Any]) -> str:
    """``template.render(context)`` without its per-call copies: ``render`` copies the context into a
    new dict and merges it with the globals through a ChainMap, ~7 µs of a recipient's budget here
    (twice per recipient). These templates have no globals and no statement that assigns, so the
    context is handed over as it is, as ``new_context(shared=True)`` would, without its copy of the
    (empty) globals' names."""
    environment = template.environment
    made = environment.context_class(environment, context, template.name, template.blocks)
    return "".join(template.root_render_func(made))


def _compile(env: jinja2.Environment, source: str, part: str) -> jinja2.Template:
    """Check ``source`` against the rules for issue expressions, then compile the checked tree."""
    try:
        tree: nodes.Template = check_template(source, env)
        return env.from_string(tree)
    except ExpressionProblem as problem:
        raise TemplateError(
            f"the {part} of this mail holds an expression that is not allowed: {problem.message}; "
            "render the issue again with this version of outreach (`outreach check` shows where)"
        ) from None
    except jinja2.TemplateSyntaxError as err:  # also an unknown filter or test
        raise TemplateError(
            f"the {part} of this mail cannot be read: {err.message}", None, err.lineno
        ) from None


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
