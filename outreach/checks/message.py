"""Checks on the rendered mail as a reader gets it: size, the way out, lang and title, the text part."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable

import lxml.html

from outreach.models import Finding, Issue, RecipientLinks, Severity
from outreach.render.personal import Personalised

CLIP_BYTES = 102 * 1024  # Gmail clips larger messages, hiding the footer and unsubscribe link
WARN_BYTES = 90 * 1024
TEXT_SHARE_MIN = 0.6  # the text part should hold at least this share of the HTML's words


def visible_text(document: str) -> str:
    """The words a reader sees in the HTML: no head, styles or hidden preheader."""
    tree = lxml.html.document_fromstring(document)
    for element in tree.xpath("//head|//style|//script|//*[contains(@style,'display:none')]"):
        element.drop_tree()
    return " ".join(tree.text_content().split())


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-zÀ-ÿ0-9']{2,}", text)


def check_message(
    issue: Issue, mail: Personalised, links: RecipientLinks, postal_address: str
) -> list[Finding]:
    where = str(issue.path or "")
    found: list[Finding] = []

    def error(code: str, message: str) -> None:
        found.append(Finding(code, Severity.ERROR, message, where))

    if not mail.html:  # ``template: plain``: one text part, nothing else to check
        _check_text_only(mail, links, postal_address, error)
        return found
    size = len(mail.html.encode("utf-8"))
    if size > CLIP_BYTES:
        error(
            "html-size",
            f"the HTML is {size / 1024:.0f} KB; Gmail clips mail over 102 KB and hides "
            "the footer with the unsubscribe link; shorten the issue or split it",
        )
    elif size >= WARN_BYTES:
        found.append(
            Finding(
                "html-size",
                Severity.WARNING,
                f"the HTML is {size / 1024:.0f} KB, close to Gmail's 102 KB clipping",
                where,
            )
        )

    hrefs = {htmllib.unescape(h) for h in re.findall(r'href="([^"]*)"', mail.html)}
    for label, url in (("unsubscribe", links.unsubscribe), ("preferences", links.preferences)):
        if url not in hrefs:
            error(f"missing-{label}", f"the HTML part has no {label} link; the layout must show one")
        if url not in mail.text:
            error(f"missing-{label}", f"the text part has no {label} link; the layout must show one")
    html_text = visible_text(mail.html)
    for part, content in (("HTML", html_text), ("text", " ".join(mail.text.split()))):
        if " ".join(postal_address.split()) not in content:
            error(
                "missing-address",
                f"the {part} part lacks the postal address (CAN-SPAM); "
                "set [organisation] postal_address and keep it in the layout",
            )

    tree = lxml.html.document_fromstring(mail.html)
    lang = (tree.get("lang") or "").strip()
    if not lang or lang == "und":
        error("missing-lang", "the HTML has no lang attribute; screen readers need it (language:)")
    title = tree.findtext(".//title") or ""
    if not title.strip():
        error("missing-title", "the HTML has no <title>; the layout must set <mj-title>")

    html_words, text_words = _words(html_text), _words(mail.text)
    if len(text_words) < TEXT_SHARE_MIN * len(html_words):
        error(
            "text-stub",
            f"the text part has {len(text_words)} words against {len(html_words)} in "
            "the HTML; it must carry the whole content, not a 'view in browser' stub",
        )
    return found


def _check_text_only(
    mail: Personalised, links: RecipientLinks, postal_address: str, error: Callable[[str, str], None]
) -> None:
    """The way out and the postal address a text-only message must carry in its one part."""
    for label, url in (("unsubscribe", links.unsubscribe), ("preferences", links.preferences)):
        if url not in mail.text:
            error(f"missing-{label}", f"the text has no {label} link; the layout must show one")
    if " ".join(postal_address.split()) not in " ".join(mail.text.split()):
        error(
            "missing-address",
            "the text lacks the postal address (CAN-SPAM); set [organisation] postal_address and keep "
            "it in the layout",
        )
