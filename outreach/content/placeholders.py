"""Per-recipient expressions in the body, held as opaque tokens while the issue is rendered.

Staff write ``{{ subscriber.first_name | default("friend") }}`` or ``[Preferences]({{ preferences_url }})``.
Markdown would mangle the braces inside a link, and premailer percent-encodes them inside ``href``, so
each expression is swapped for a plain alphanumeric token (which survives Markdown, MJML and premailer
untouched) and swapped back just before the per-recipient template is compiled.
"""

from __future__ import annotations

import re

from jinja2 import Environment, TemplateSyntaxError

from outreach.errors import ContentError
from outreach.models import Placeholder

EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
STATEMENT = re.compile(r"\{%")
TOKEN = re.compile(r"XQOUTREACH(\d{4})QX")

_syntax = Environment(autoescape=False)


def token_for(number: int) -> str:
    return f"XQOUTREACH{number:04d}QX"


def check_expression(expression: str, path: str, line: int) -> None:
    """Refuse an expression that Jinja2 cannot parse, naming where it is."""
    try:
        _syntax.parse("{{" + expression + "}}")
    except TemplateSyntaxError as err:
        raise ContentError(
            f"cannot read the expression '{{{{{expression}}}}}': {err.message}", path, line
        ) from None


def extract(text: str, path: str, first_line: int, start: int = 0) -> tuple[str, tuple[Placeholder, ...]]:
    """Replace every ``{{ ... }}`` in ``text`` with a token; ``first_line`` is the text's line 1."""
    found: list[Placeholder] = []
    statement = STATEMENT.search(text)
    if statement:
        line = first_line + text.count("\n", 0, statement.start())
        raise ContentError(
            "only {{ ... }} expressions can be used in an issue; "
            "for mail that differs by reader, send to separate segments",
            path,
            line,
        )

    def swap(match: re.Match[str]) -> str:
        line = first_line + text.count("\n", 0, match.start())
        expression = match.group(1).strip()
        check_expression(expression, path, line)
        token = token_for(start + len(found))
        found.append(Placeholder(token=token, expression=expression, line=line))
        return token

    return EXPRESSION.sub(swap, text), tuple(found)


def restore(text: str, placeholders: tuple[Placeholder, ...] | list[Placeholder]) -> str:
    """Put each placeholder's Jinja2 expression back where its token is."""
    by_token = {p.token: p.expression for p in placeholders}

    def back(match: re.Match[str]) -> str:
        expression = by_token.get(match.group(0))
        return "{{ " + expression + " }}" if expression is not None else match.group(0)

    return TOKEN.sub(back, text)
