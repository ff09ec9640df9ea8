"""The per-issue pipeline: blocks -> MJML layout (Jinja2) -> HTML (mjml-python) -> inlined CSS.

Per-recipient fields are tokens (see ``outreach.content.placeholders``) all the way through and become
Jinja2 expressions again only in the final step, where the recipient-level templates are compiled.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from markupsafe import Markup, escape

from outreach.config import Config
from outreach.content.details import when_from_starts
from outreach.content.placeholders import EXPRESSION, restore, token_for
from outreach.i18n import N_, LocalDates, gettext_context, translations
from outreach.i18n.catalogs import SITE_FOLDER
from outreach.models import (
    Block,
    Columns,
    Event,
    Issue,
    Layout,
    Placeholder,
    Recipient,
    RecipientLinks,
    Section,
)
from outreach.render.calendar import calendar_links
from outreach.render.conditional import SectionMarks
from outreach.render.inline import inline_css
from outreach.render.layouts import layout_environment, render_layout
from outreach.render.mjml import compile_mjml
from outreach.render.personal import Personalised, PersonalTemplates, escape_jinja

LINK_EXPRESSIONS = {
    "unsubscribe": "unsubscribe_url",
    "preferences": "preferences_url",
    "view_online": "view_online_url",
}


@dataclass(frozen=True)
class CompiledIssue:
    """An issue rendered once: the recipient-level templates plus what checks need to see."""

    issue: Issue
    templates: PersonalTemplates
    mjml: str
    placeholders: tuple[Placeholder, ...] = field(default=())

    def personalise(self, recipient: Recipient, links: RecipientLinks) -> Personalised:
        return self.templates.render(recipient, links)

    @property
    def html_source(self) -> str:
        return self.templates.html_source

    @property
    def text_source(self) -> str:
        return self.templates.text_source

    @property
    def fingerprint(self) -> str:
        """A SHA-256 of what every reader's message is made from (subject, HTML and text templates).

        A campaign stores it beside the reviewed commit, so anyone can show later that what went out
        is what was reviewed: the same issue rendered from the same commit has the same fingerprint.
        """
        digest = hashlib.sha256()
        for part in (self.templates.subject_source, self.html_source, self.text_source):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x00")
        return digest.hexdigest()


class _Personal:
    """Hands layouts a token for any per-recipient expression they need (e.g. a greeting)."""

    def __init__(self, issue: Issue) -> None:
        self.placeholders: list[Placeholder] = list(issue.placeholders)

    def __call__(self, expression: str) -> Markup:
        token = token_for(len(self.placeholders))
        self.placeholders.append(Placeholder(token=token, expression=expression, line=0))
        return Markup(token)

    def text(self, text: str) -> Markup:
        """Escape ``text`` but keep its ``{{ ... }}`` expressions per recipient (e.g. a title)."""
        parts: list[str] = []
        last = 0
        for match in EXPRESSION.finditer(text):
            parts.append(str(escape(text[last : match.start()])))
            parts.append(self(match.group(1).strip()))
            last = match.end()
        parts.append(str(escape(text[last:])))
        return Markup("".join(parts))


def render_issue(issue: Issue, config: Config, templates: Path | None = None) -> CompiledIssue:
    """Render ``issue`` with its layout; all per-issue work happens here, once."""
    folder = templates or config.path("templates")
    env = layout_environment(folder)
    personal = _Personal(issue)
    marks = SectionMarks()
    links = {name: personal(expr) for name, expr in LINK_EXPRESSIONS.items()}
    context = _dated(
        {**_layout_context(issue, config, links, personal), **language_context(issue.language, config)}, issue
    )
    context["section_mark"] = marks
    if issue.layout is Layout.PLAIN:  # text only: no MJML, no HTML part
        mjml = html = ""
    else:
        mjml = render_layout(env, f"{issue.layout}.mjml.j2", context)
        html = inline_css(compile_mjml(mjml, folder, f"{issue.layout}.mjml.j2"))
    text = render_layout(env, f"{issue.layout}.txt.j2", context)
    if issue.utm_campaign:
        website = config.organisation.website
        html = html and tag_campaign_links(html, website, issue.utm_campaign, in_html=True)
        text = tag_campaign_links(text, website, issue.utm_campaign, in_html=False)
    placeholders = tuple(personal.placeholders)
    templates_ = PersonalTemplates(
        subject=issue.subject,
        html=html
        and marks.restore(
            restore(escape_jinja(wrap_long_lines(ascii_html(html)).replace("\n.", "\n .")), placeholders)
        ),
        text=marks.restore(restore(escape_jinja(marks.tidy_text(_tidy_text(text))), placeholders)),
    )
    return CompiledIssue(issue=issue, templates=templates_, mjml=mjml, placeholders=placeholders)


def _layout_context(
    issue: Issue, config: Config, links: dict[str, Markup], personal: _Personal
) -> dict[str, Any]:
    return {
        "issue": issue,
        "blocks": issue.blocks,
        "org": config.organisation,
        "sender": config.sender,
        "brand": config.brand,
        "links": links,
        "personal": personal,
        "base_url": config.base_url,
        "heading": personal.text(issue.heading),
        "kind": block_kind,
        "group_sections": group_sections,
        "plain": without_expressions,
        "title_level": functools.partial(title_level, issue.headings),
        "preheader_filler": PREHEADER_FILLER,
        "calendar": functools.partial(calendar_links, config.base_url, issue.slug, config.time_zone),
    }


def language_context(language: str, config: Config) -> dict[str, Any]:
    """What a layout needs to speak ``language``: its catalog's gettext functions (for ``{% trans %}``
    and ``_()``), dates in its words and the site's zone. Made once per edition, never per recipient."""
    messages = translations(language, config.root / SITE_FOLDER)
    dates = LocalDates(language, config.time_zone)

    def event_when(event: Event) -> str:
        """What staff wrote in ``when:``; or, for an event given only ``starts:``, its start in the
        reader's language."""
        if event.starts is not None and event.when == when_from_starts(event.starts):
            return dates.when(event.starts)
        return event.when

    def link_label(event: Event) -> str:
        """The event's link text; the default one in the reader's language."""
        return (
            messages.gettext(DEFAULT_LINK_LABEL)
            if event.link_label == DEFAULT_LINK_LABEL
            else event.link_label
        )

    def event_where(event: Event) -> str:
        """Where the event is; "Online" (the default for an online event) in the reader's language."""
        return messages.gettext(ONLINE) if event.online and event.where == ONLINE else event.where

    return {
        **gettext_context(messages),
        "language": language,
        "dates": dates,
        "event_when": event_when,
        "event_where": event_where,
        "link_label": link_label,
    }


def _dated(context: dict[str, Any], issue: Issue) -> dict[str, Any]:
    dates: LocalDates = context["dates"]
    return {**context, "issue_date": dates.day(issue.date), "issue_month": dates.month(issue.date)}


# The defaults outreach.content gives an event, in English; translated where a layout shows them.
DEFAULT_LINK_LABEL = N_("Details and registration")
ONLINE = N_("Online")

# About 150 invisible characters: inboxes show up to ~140 of preview, so after the preheader they
# show nothing instead of the mail's first words. (Entities: ASCII-only, like the rest of the HTML.)
PREHEADER_FILLER = Markup("&#847;&#8204;&#160;" * 50)


def title_level(headings: tuple[tuple[int, int], ...], block: Block) -> int:
    """The heading level for a callout's or an event's title: one below the section it stands in."""
    above = [level for level, line in headings if line < block.line]
    return min(6, (above[-1] if above else 1) + 1)


@dataclass(frozen=True)
class SectionGroup:
    """Consecutive single-column blocks share one MJML section; two columns get their own."""

    blocks: tuple[Block, ...] = ()
    columns: Columns | None = None
    section: Section | None = None


def group_sections(blocks: tuple[Block, ...]) -> list[SectionGroup]:
    groups: list[SectionGroup] = []
    run: list[Block] = []
    for block in blocks:
        if isinstance(block, Columns | Section):
            if run:
                groups.append(SectionGroup(blocks=tuple(run)))
                run = []
            if isinstance(block, Section):
                groups.append(SectionGroup(section=block))
            else:
                groups.append(SectionGroup(columns=block))
        else:
            run.append(block)
    if run:
        groups.append(SectionGroup(blocks=tuple(run)))
    return groups


def block_kind(block: Block) -> str:
    """The layout's name for a block: prose, button, callout, event, image, divider, columns, section."""
    return type(block).__name__.lower()


def without_expressions(text: str) -> str:
    """Text with any ``{{ ... }}`` removed: for places that are the same for every reader."""
    return " ".join(EXPRESSION.sub("", text).split())


_URL = re.compile(r"(https?://[^\s\"'<>()]+)")
# In the HTML only links are tagged: an image's src with utm_* parameters is a different file to
# caches and image proxies, and says nothing a click would.
_HREF = re.compile(r"""(?<=\shref=")(https?://[^"]+)""")


def tag_campaign_links(document: str, website: str, campaign: str, in_html: bool) -> str:
    """Add utm_* parameters to links that point at the organisation's own website."""
    host = urlsplit(website).hostname or ""

    def tag(match: re.Match[str]) -> str:
        url = match.group(1)
        parts = urlsplit(url.replace("&amp;", "&"))
        if parts.hostname != host:
            return url
        query = [(k, v) for k, v in parse_qsl(parts.query) if not k.startswith("utm_")]
        query += [("utm_source", "newsletter"), ("utm_medium", "email"), ("utm_campaign", campaign)]
        tagged = urlunsplit(parts._replace(query=urlencode(query)))
        return tagged.replace("&", "&amp;") if in_html else tagged

    return (_HREF if in_html else _URL).sub(tag, document)


def ascii_html(html: str) -> str:
    """Non-ASCII characters as numeric references (``&#183;``): the same page to a browser, but an
    ASCII-only string is cheaper at every per-recipient step (render, join, UTF-8 encode)."""
    return html.encode("ascii", "xmlcharrefreplace").decode("ascii")


# (A line of HTML never starts with a dot, above: a leading space is nothing to a browser, and SMTP
# then needs no dot-stuffing copy of the 60 KB body for every recipient.)

# Lines stay far enough under SMTP's 998 octets that per-recipient values (capped in
# outreach.render.personal) can never push them over, so a body that is plain ASCII after
# personalising goes out as 7bit as it is; anything else is quoted-printable (the MIME frame decides).
LINE_LIMIT = 600


def wrap_long_lines(html: str, limit: int = LINE_LIMIT) -> str:
    """Break lines longer than ``limit`` at a space outside any quoted attribute value.

    A newline is whitespace to HTML wherever a space is (outside <pre>, which layouts do not use),
    so rendering is unchanged.
    """
    lines = html.split("\n")
    if max(map(len, lines)) <= limit:
        return html
    return "\n".join(_wrap_line(line, limit) if len(line) > limit else line for line in lines)


# Only these characters change where a line may break; the scan jumps from one to the next.
_WRAP_EVENTS = re.compile("[<>\"' ]")


def _wrap_line(line: str, limit: int) -> str:
    """Break ``line`` greedily: once a piece reaches ``limit`` characters, at the last space so far
    that is not inside a quoted attribute value (or at the next one). A scan from one character that
    matters (``< > " '`` and space) to the next: a character-by-character loop was a sixth of
    rendering a long issue."""
    out: list[str] = []
    start = 0
    last_space = -1
    quote = ""
    in_tag = False
    for event in _WRAP_EVENTS.finditer(line):
        index = event.start()
        if last_space > start and index - start > limit:  # the piece reached the limit before here
            out.append(line[start:last_space])
            start, last_space = last_space + 1, -1
        char = line[index]
        if quote:
            if char == quote:
                quote = ""
        elif char == "<":
            in_tag = True
        elif char == ">":
            in_tag = False
        elif in_tag and char != " ":
            quote = char
        elif char == " ":
            last_space = index
        if index - start >= limit and last_space > start:
            out.append(line[start:last_space])
            start, last_space = last_space + 1, -1
    if last_space > start and len(line) - 1 - start >= limit:
        out.append(line[start:last_space])
        start = last_space + 1
    out.append(line[start:])
    return "\n".join(out)


def _tidy_text(text: str) -> str:
    """Collapse runs of blank lines the layout leaves and end with one newline."""
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
