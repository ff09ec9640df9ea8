"""Checks on what staff wrote: links, images, leftover markers, subject, preheader, headings, variables."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import jinja2
from jinja2 import nodes

from outreach.content.placeholders import EXPRESSION, TOKEN
from outreach.content.urls import LINKS, WEB, scheme_of
from outreach.models import RECIPIENT_FIELDS, Finding, Issue, Layout, Severity
from outreach.render.personal import RECIPIENT_VARIABLES

SUBJECT_MAX = 78
PREHEADER_MIN, PREHEADER_MAX = 30, 140
VAGUE_LINK_TEXT = {"click here", "here", "click", "this link", "link", "read more here"}
LOCAL_HOSTS = ("localhost", "127.", "0.0.0.0", "[::1]", "::1")
MARKER = re.compile(r"\b(TODO|TK|TKTK|FIXME)\b")
_parser = jinja2.Environment()


def _error(code: str, message: str, issue: Issue, line: int | None) -> Finding:
    return Finding(code, Severity.ERROR, message, str(issue.path or ""), line)


def _warning(code: str, message: str, issue: Issue, line: int | None) -> Finding:
    return Finding(code, Severity.WARNING, message, str(issue.path or ""), line)


def check_links(issue: Issue) -> list[Finding]:
    found: list[Finding] = []
    for link in issue.links:
        url = link.url.strip()
        if TOKEN.fullmatch(url):
            continue  # a per-recipient link such as {{ preferences_url }}; checked as a variable
        # Unsafe schemes never get this far (outreach.content.urls refuses them when the issue is read);
        # what is left to say is whether a reader's app can open the address at all.
        scheme = scheme_of(url)
        host = (urlsplit(url).hostname or "").lower()
        if scheme in LINKS and scheme not in WEB:
            pass  # mailto:, tel:
        elif scheme not in WEB or not host:
            found.append(
                _error(
                    "link-not-absolute",
                    f"the link '{url}' is not a full web address; write it as https://...",
                    issue,
                    link.line,
                )
            )
        elif host.startswith(LOCAL_HOSTS) or host.endswith((".local", ".localhost")):
            found.append(
                _error(
                    "link-localhost",
                    f"the link '{url}' points to this computer; readers cannot open it",
                    issue,
                    link.line,
                )
            )
        text = re.sub(r"[^\w\s]", "", link.text).strip().lower()
        if text in VAGUE_LINK_TEXT:
            found.append(
                _error(
                    "link-text",
                    f"the link text '{link.text}' says nothing out of context (screen readers list links "
                    "alone); describe where it goes, e.g. 'Register for the training'",
                    issue,
                    link.line,
                )
            )
    return found


def check_images(issue: Issue) -> list[Finding]:
    found: list[Finding] = []
    for picture in issue.pictures:
        if not picture.alt.strip():
            found.append(
                _error(
                    "image-alt",
                    f"the image '{picture.src}' has no alt text; describe it for readers who cannot see it "
                    "(![description](url) or 'alt:' in an image block)",
                    issue,
                    picture.line,
                )
            )
        if scheme_of(picture.src) not in WEB:
            found.append(
                _error(
                    "image-not-absolute",
                    f"the image '{picture.src}' must be a full https:// address to show in mail",
                    issue,
                    picture.line,
                )
            )
    return found


def check_markers(issue: Issue) -> list[Finding]:
    found: list[Finding] = []
    for number, line in enumerate(issue.source.splitlines(), start=1):
        if number < issue.body_line and line.lstrip().startswith("#"):
            continue  # a comment in the front matter
        match = MARKER.search(line)
        if match:
            found.append(
                _error(
                    "leftover-marker",
                    f"'{match.group(1)}' left in the text: {line.strip()[:70]}",
                    issue,
                    number,
                )
            )
    return found


RAW_HTML = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>")


def check_raw_html(issue: Issue) -> list[Finding]:
    """Raw HTML is shown to readers as text (it is never passed through), so it is a mistake."""
    found: list[Finding] = []
    fenced = False
    for number, line in enumerate(issue.source.splitlines()[issue.body_line - 1 :], start=issue.body_line):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else RAW_HTML.search(re.sub(r"`[^`]*`", "", line))
        if match:
            found.append(
                _warning(
                    "raw-html",
                    f"readers will see '{match.group(0)}' as text: write Markdown instead "
                    "(a line break is a backslash at the end of the line)",
                    issue,
                    number,
                )
            )
    return found


def check_subject_and_preheader(issue: Issue) -> list[Finding]:
    found: list[Finding] = []
    subject_line = issue.line_of("subject") or 2
    plain = " ".join(EXPRESSION.sub("Friend", issue.subject).split())
    if not plain:
        found.append(_error("subject-empty", "the subject is empty", issue, subject_line))
    elif len(plain) > SUBJECT_MAX:
        found.append(
            _warning(
                "subject-long",
                f"the subject is {len(plain)} characters; inboxes cut it after ~60 and over {SUBJECT_MAX} "
                "it folds; shorten it",
                issue,
                subject_line,
            )
        )
    preheader_line = issue.line_of("preheader") or 2
    if not issue.preheader:
        found.append(
            _warning(
                "preheader-missing",
                "no preheader: inboxes will show the first words of the mail instead; add 'preheader:'",
                issue,
                2,
            )
        )
    elif len(issue.preheader) > PREHEADER_MAX:
        found.append(
            _warning(
                "preheader-long",
                f"the preheader is {len(issue.preheader)} characters; keep it under {PREHEADER_MAX}",
                issue,
                preheader_line,
            )
        )
    elif len(issue.preheader) < PREHEADER_MIN:
        found.append(
            _warning(
                "preheader-short",
                f"the preheader is only {len(issue.preheader)} characters; aim for 40-110",
                issue,
                preheader_line,
            )
        )
    return found


def check_headings(issue: Issue) -> list[Finding]:
    """Levels as readers get them: a body that uses '#' was moved under the title when it was read."""
    found: list[Finding] = []
    source = issue.source.splitlines()
    previous = 1  # the layout's title is the h1
    for level, line in issue.headings:
        if level > previous + 1:
            written = source[line - 1].strip() if 0 < line <= len(source) else ""
            marks = len(written) - len(written.lstrip("#"))
            better = f"use {'#' * (marks - (level - previous - 1))}" if marks else "make it one level higher"
            found.append(
                _warning(
                    "heading-order",
                    f"this heading skips a level below the one before it; {better}",
                    issue,
                    line,
                )
            )
        previous = level
    return found


def check_variables(issue: Issue) -> list[Finding]:
    found: list[Finding] = []
    expressions = [(p.expression, p.line) for p in issue.placeholders]
    expressions += [(e.strip(), issue.line_of("subject") or 2) for e in EXPRESSION.findall(issue.subject)]
    for expression, line in expressions:
        tree = _parser.parse("{{ " + expression + " }}")
        for name in sorted({n.name for n in tree.find_all(nodes.Name)}):
            if name not in RECIPIENT_VARIABLES:
                found.append(
                    _error(
                        "unknown-variable",
                        f"unknown variable '{name}' in {{{{ {expression} }}}}; known: "
                        f"{', '.join(RECIPIENT_VARIABLES)}",
                        issue,
                        line,
                    )
                )
        for getattr_node in tree.find_all(nodes.Getattr):
            target = getattr_node.node
            if (
                isinstance(target, nodes.Name)
                and target.name == "recipient"
                and issue.layout is Layout.NEWSLETTER
                and getattr_node.attr not in RECIPIENT_FIELDS
            ):
                found.append(
                    _error(
                        "unknown-variable",
                        f"recipient.{getattr_node.attr} can only come from a contacts file (a letter sent "
                        "with --recipients); in a newsletter use subscriber.attributes.NAME",
                        issue,
                        line,
                    )
                )
            if (
                isinstance(target, nodes.Name)
                and target.name == "subscriber"
                and getattr_node.attr not in RECIPIENT_FIELDS
            ):
                found.append(
                    _error(
                        "unknown-variable",
                        f"subscribers have no field '{getattr_node.attr}'; known: "
                        f"{', '.join(RECIPIENT_FIELDS)} (custom fields: subscriber.attributes.NAME)",
                        issue,
                        line,
                    )
                )
    return found


WRITING_CHECKS = (
    check_raw_html,
    check_links,
    check_images,
    check_markers,
    check_subject_and_preheader,
    check_headings,
    check_variables,
)
