"""Per-recipient expressions in the body, held as opaque tokens while the issue is rendered.

Staff write ``{{ subscriber.first_name | default("there") }}`` or ``[Preferences]({{ preferences_url }})``.
Markdown would mangle the braces inside a link, and premailer percent-encodes them inside ``href``, so
each expression is swapped for a plain alphanumeric token (which survives Markdown, MJML and premailer
untouched) and swapped back just before the per-recipient template is compiled. Each expression is
held to the rules of ``outreach.content.expressions`` on the way in.
"""

from __future__ import annotations

import re

from outreach.content.expressions import ExpressionProblem, find_expressions
from outreach.content.expressions import check_expression as check_rules
from outreach.errors import ContentError
from outreach.models import Placeholder

EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
STATEMENT = re.compile(r"\{%")
TOKEN = re.compile(r"XQOUTREACH(\d{4,})QX")


def token_for(number: int) -> str:
    return f"XQOUTREACH{number:04d}QX"


def check_expression(expression: str, path: str, line: int) -> None:
    """Refuse an expression that Jinja2 cannot parse or that does more than show a field."""
    try:
        check_rules(expression)
    except ExpressionProblem as problem:
        raise ContentError(problem.message, path, line) from None


def expressions_in(text: str, path: str, line: int) -> list[str]:
    """The expressions of a one-line field (the subject, the title), each checked; ``line`` is its line."""
    try:
        found = [f.expression for f in find_expressions(text)]
    except ExpressionProblem as problem:
        raise ContentError(problem.message, path, line) from None
    for expression in found:
        check_expression(expression, path, line)
    return found


def extract(text: str, path: str, first_line: int, start: int = 0) -> tuple[str, tuple[Placeholder, ...]]:
    """Replace every ``{{ ... }}`` in ``text`` with a token; ``first_line`` is the text's line 1."""
    statement = STATEMENT.search(text)
    if statement:
        line = first_line + text.count("\n", 0, statement.start())
        raise ContentError(
            "only {{ ... }} expressions can be used in an issue; "
            "for mail that differs by reader, send to separate segments",
            path,
            line,
        )
    found: list[Placeholder] = []
    parts: list[str] = []
    last = 0
    line = first_line  # counted as we go: a count from the start for each expression is quadratic
    try:
        for expression in find_expressions(text):
            line += text.count("\n", last, expression.start)
            check_expression(expression.expression, path, line)
            token = token_for(start + len(found))
            found.append(Placeholder(token=token, expression=expression.expression, line=line))
            parts += [text[last : expression.start], token]
            line += text.count("\n", expression.start, expression.end)
            last = expression.end
    except ExpressionProblem as problem:
        offset = problem.offset or 0
        raise ContentError(problem.message, path, line + text.count("\n", last, offset)) from None
    parts.append(text[last:])
    return "".join(parts), tuple(found)


def restore(text: str, placeholders: tuple[Placeholder, ...] | list[Placeholder]) -> str:
    """Put each placeholder's Jinja2 expression back where its token is."""
    by_token = {p.token: p.expression for p in placeholders}

    def back(match: re.Match[str]) -> str:
        expression = by_token.get(match.group(0))
        return "{{ " + expression + " }}" if expression is not None else match.group(0)

    return TOKEN.sub(back, text)
