"""Conditional sections (``::: only`` / ``::: unless``) in the compiled issue: one ``{% if %}`` each.

The issue is rendered once for everyone, sections included; each section's start and end are held as
plain tokens through MJML and premailer (like the per-recipient expressions) and become
``{% if CONDITION %}`` and ``{% endif %}`` lines in the per-recipient templates. Those lines are
the only statements a per-recipient template may hold (``outreach.content.expressions``); the
environments trim them with their line end, so a hidden section leaves nothing behind, and the MIME
frame (``outreach.delivery.bodies``) can decide a section per recipient without rendering it whole.
"""

from __future__ import annotations

import re

from markupsafe import Markup

from outreach.content.conditions import expression
from outreach.models import Section

_MARK = re.compile(r"\n?[ \t]*XQSECTION(END)?(\d{4,})QX[ \t]*")
_LINE = re.compile(r"^XQSECTION(?:END)?\d{4,}QX$")
OPEN_TAG = re.compile(r"^\{% if (.+) %\}$")
CLOSE_TAG = "{% endif %}"


class SectionMarks:
    """Hands layouts the start and end token of each section; ``restore`` turns them into tags."""

    def __init__(self) -> None:
        self._numbers: dict[int, int] = {}
        self._sections: list[Section] = []

    def _number(self, section: Section) -> int:
        number = self._numbers.get(id(section))
        if number is None:
            number = self._numbers[id(section)] = len(self._sections)
            self._sections.append(section)
        return number

    def open(self, section: Section) -> Markup:
        return Markup(f"XQSECTION{self._number(section):04d}QX")

    def close(self, section: Section) -> Markup:
        return Markup(f"XQSECTIONEND{self._number(section):04d}QX")

    def tidy_text(self, text: str) -> str:
        """Put each token of the text part on its own line, after exactly one blank line and before
        none, so that each block keeps one blank line after it whether its section shows or not."""
        if not self._sections:
            return text
        out: list[str] = []
        after_mark = False
        for line in text.split("\n"):
            bare = line.strip()
            if _LINE.match(bare):
                while out and not out[-1].strip():
                    out.pop()
                if out and not _LINE.match(out[-1]):
                    out.append("")
                out.append(bare)
                after_mark = True
            elif after_mark and not bare:
                continue
            else:
                after_mark = False
                out.append(line)
        return "\n".join(out)

    def restore(self, source: str) -> str:
        """Each token as a ``{% if %}`` or ``{% endif %}`` line of its own."""
        if not self._sections:
            return source

        def tag(match: re.Match[str]) -> str:
            end = "" if source.startswith("\n", match.end()) else "\n"
            if match.group(1):
                return "\n" + CLOSE_TAG + end
            return "\n{% if " + expression(self._sections[int(match.group(2))].condition) + " %}" + end

        return _MARK.sub(tag, source)
