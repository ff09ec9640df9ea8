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

from premailer import Premailer

DOCTYPE = "<!doctype html>"
_DOCTYPE = re.compile(r"^\s*<!doctype[^>]*>", re.IGNORECASE)


def inline_css(html: str) -> str:
    """Inline the stylesheet rules into style attributes; keep media queries in the head."""
    doctype_match = _DOCTYPE.match(html)
    doctype = doctype_match.group(0).strip() if doctype_match else DOCTYPE
    inlined = Premailer(
        html,
        allow_network=False,
        strip_important=False,
        keep_style_tags=False,
        remove_classes=False,
        disable_validation=True,
        disable_leftover_css=False,
        cssutils_logging_level=logging.CRITICAL,
        align_floating_images=False,
        remove_unset_properties=True,
        disable_basic_attributes=["width", "height"],
    ).transform()
    return f"{doctype}\n{_DOCTYPE.sub('', inlined, count=1).lstrip()}"
