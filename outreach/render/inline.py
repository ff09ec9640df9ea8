"""CSS inlining with premailer, once per issue, keeping what premailer would otherwise break.

premailer drops the doctype, and it would fetch linked stylesheets over the network; we restore the
first and forbid the second. Media queries (the responsive and dark-mode rules) stay in a <style>
element because they cannot be inlined; ``!important`` is kept so those rules can win on phones.
premailer would also copy every CSS ``width``/``height`` into the HTML attributes, overwriting the
pixel widths MJML writes for Outlook (``<img width="180">`` became ``width="100%"``, and Outlook for
Windows then sizes a 2x image by its file width, breaking the 600 px layout): it is told not to.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from premailer import Premailer

DOCTYPE = "<!doctype html>"
_DOCTYPE = re.compile(r"^\s*<!doctype[^>]*>", re.IGNORECASE)


# How premailer is asked to inline (see the module's docstring for why each).
OPTIONS: dict[str, Any] = {
    "allow_network": False,
    "strip_important": False,
    "keep_style_tags": False,
    "remove_classes": False,
    "disable_validation": True,
    "disable_leftover_css": False,
    "cssutils_logging_level": logging.CRITICAL,
    "align_floating_images": False,
    "remove_unset_properties": True,
    "disable_basic_attributes": ["width", "height"],
}

# What premailer makes of each stylesheet: its inlinable rules, its media rules, and their text. The
# layouts' stylesheets are the same for every issue, and working them out again (cssutils parsing and
# serialising every property) was half of rendering an issue. Bounded: a site has a few layouts.
_SHEETS: dict[tuple[str, int], tuple[list[Any], list[Any], str]] = {}
_SHEET_LIMIT = 64


class _Inliner(Premailer):  # type: ignore[misc]
    """premailer with what it makes of a stylesheet remembered across issues. Valid because every
    call passes the same ``OPTIONS`` (the rules premailer returns depend on them)."""

    def _parse_style_rules(self, css_body: str, ruleset_index: int) -> tuple[list[Any], list[Any]]:
        key = (css_body, ruleset_index)
        sheet = _SHEETS.get(key)
        if sheet is None:
            rules, leftover = super()._parse_style_rules(css_body, ruleset_index)
            sheet = (rules, leftover, super()._css_rules_to_string(leftover))
            if len(_SHEETS) < _SHEET_LIMIT:
                _SHEETS[key] = sheet
        self._leftover_text = (sheet[1], sheet[2])
        return list(sheet[0]), sheet[1]

    def _css_rules_to_string(self, rules: list[Any]) -> str:
        known = getattr(self, "_leftover_text", None)
        if known is not None and known[0] is rules:  # the media rules just returned above
            return str(known[1])
        return str(super()._css_rules_to_string(rules))


def inline_css(html: str) -> str:
    """Inline the stylesheet rules into style attributes; keep media queries in the head."""
    doctype_match = _DOCTYPE.match(html)
    doctype = doctype_match.group(0).strip() if doctype_match else DOCTYPE
    inlined = _Inliner(html, **OPTIONS).transform()
    return f"{doctype}\n{_DOCTYPE.sub('', inlined, count=1).lstrip()}"
