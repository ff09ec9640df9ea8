"""The one gate every address an author writes goes through: links, buttons, event links, images.

A ``javascript:`` or ``data:`` address in a mail runs script or hides content in the clients that
follow it, and a protocol-relative ``//host/x`` means whatever the reader's client decides. So an
address in an issue is a web address (``https://``, ``http://``), or for links ``mailto:`` and
``tel:``; anything else is refused at its line. Addresses with no scheme (``/relative``,
``www.example.org``) are not dangerous, only unusable: ``outreach check`` reports those.
"""

from __future__ import annotations

import re
from enum import Enum

from outreach.errors import ContentError

WEB = ("https", "http")
LINKS = (*WEB, "mailto", "tel")
# Per-recipient links an issue may use as a whole address: {{ preferences_url }} and its siblings.
RECIPIENT_LINKS = ("unsubscribe_url", "preferences_url", "view_online_url")

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Browsers drop these anywhere in an address (java\tscript: is javascript:), so the gate does too.
_IGNORED = re.compile(r"[\x00-\x20\x7f]")


class Address(Enum):
    """Where an address stands decides what it may be."""

    LINK = "a link"
    BUTTON = "a button's link"
    EVENT = "an event's link"
    IMAGE = "an image"
    IMAGE_LINK = "an image's link"

    @property
    def what(self) -> str:
        return str(self.value)

    @property
    def schemes(self) -> tuple[str, ...]:
        return WEB if self is Address.IMAGE else LINKS

    def allowed(self) -> str:
        return ", ".join(f"{s}://" if s.startswith("http") else f"{s}:" for s in self.schemes)


def scheme_of(url: str) -> str:
    """The scheme of ``url`` as a browser reads it (lower case), or '' when it has none."""
    match = _SCHEME.match(_IGNORED.sub("", url))
    return match.group(1).lower() if match else ""


def checked_address(
    url: str, kind: Address, path: str, line: int, expressions: dict[str, str] | None = None
) -> str:
    """``url`` stripped, or a ContentError at ``path:line`` naming it and what ``kind`` allows.

    ``expressions`` maps placeholder tokens to the per-recipient expression they hold: an address may
    start with one only if it is one of the recipient links (its scheme is ours, not the reader's data).
    """
    url = url.strip()
    compact = _IGNORED.sub("", url)
    for token, expression in (expressions or {}).items():
        if compact.startswith(token):
            if expression.strip() in RECIPIENT_LINKS and kind is not Address.IMAGE:
                return url
            raise ContentError(
                f"{kind.what} cannot start with {{{{ {expression} }}}}: readers' data must not decide "
                f"where it goes; start it with {kind.allowed()}, or use one of "
                + ", ".join(f"{{{{ {name} }}}}" for name in RECIPIENT_LINKS),
                path,
                line,
            )
    if compact.startswith(("//", "\\\\", "/\\", "\\/")):
        raise _refused(url, kind, path, line, "it leaves http or https to the reader's app")
    scheme = scheme_of(compact)
    if scheme and scheme not in kind.schemes:
        raise _refused(url, kind, path, line, f"'{scheme}:' is not allowed for {kind.what}")
    return url


def _refused(url: str, kind: Address, path: str, line: int, why: str) -> ContentError:
    shown = url if len(url) <= 80 else url[:77] + "..."
    return ContentError(
        f"{kind.what} '{shown}' cannot be used in mail ({why}); "
        f"use an address that starts with {kind.allowed()}",
        path,
        line,
    )
