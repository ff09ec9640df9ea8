"""premailer's work per stylesheet is remembered across issues: the result must not change."""

from __future__ import annotations

from premailer import Premailer

from outreach.render import inline
from outreach.render.inline import inline_css

PAGE = """<!doctype html>
<html><head><style>
p { color: #1d6470; margin: 0 0 16px 0 }
.note { font-size: 14px !important }
@media (max-width: 480px) { p { font-size: 18px } }
@media (prefers-color-scheme: dark) { p { color: #eeeeee } }
</style></head>
<body><p class="note">Hello {{ subscriber.first_name }}</p><p>Second</p></body></html>"""


def plain_premailer(html: str) -> str:
    inlined = Premailer(html, **inline.OPTIONS).transform()
    return f"<!doctype html>\n{inline._DOCTYPE.sub('', inlined, count=1).lstrip()}"


def test_the_second_and_later_issues_inline_exactly_as_the_first() -> None:
    inline._SHEETS.clear()
    first = inline_css(PAGE)
    assert inline._SHEETS, "the stylesheet was not remembered"
    again = inline_css(PAGE)
    other = inline_css(PAGE.replace("Second", "Another body, the same stylesheet"))
    assert first == again == plain_premailer(PAGE)
    assert other == plain_premailer(PAGE.replace("Second", "Another body, the same stylesheet"))
    assert "@media (max-width: 480px)" in first and "!important" in first
    assert 'style="color:#1d6470' in first
