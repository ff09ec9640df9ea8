"""What a ``{{ ... }}`` in an issue may do: show a reader's field or link, through a few filters.

Issue text is written by staff (and soon edited in the admin app), and its expressions are compiled
into the per-recipient templates. Jinja2 expressions can reach Python (``''.__class__.__mro__``,
``cycler.__init__.__globals__``, ``'{0.__class__}'.format(x)``), so each one is read into Jinja2's syntax
tree and held to a short list of what a greeting or a link needs: names, fields, plain values, the
filters in ``FILTERS``, ``~``, ``if/else``, ``and/or/not`` and comparisons. Calls, arithmetic, names and
fields starting with ``_``, and the template engine's own objects are refused with a message.
The per-recipient templates run sandboxed as well (``outreach.render.personal``), but an expression
that would be refused there is refused here first, at its line, when the issue is read.

The same check guards the templates a campaign stores (``check_template``), so a template that did
not come from this reader is held to the same list before it is ever rendered.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from difflib import get_close_matches

import jinja2
from jinja2 import nodes

from outreach.content.sandbox import FILTERS, RENDER_ERRORS, TESTS, issue_sandbox

COMPARISONS = ("eq", "ne", "in", "notin")
# Names the template engine itself defines: never a reader's field, and the way out of the sandbox.
ENGINE_NAMES = frozenset(
    {
        "self",
        "loop",
        "caller",
        "varargs",
        "kwargs",
        "range",
        "dict",
        "lipsum",
        "cycler",
        "joiner",
        "namespace",
    }
)
# A greeting or a link is short; anything longer is a brace left open.
MAX_LENGTH = 200

_SYNTAX = jinja2.Environment(autoescape=False)  # parses only; nothing is compiled or run with it
_TRIAL = issue_sandbox(autoescape=True)
_LINKS = {
    "unsubscribe_url": "https://example.org/u/x",
    "preferences_url": "https://example.org/p/x",
    "view_online_url": "https://example.org/v/x",
}
# A checked expression is tried on a reader with every field and on one with none, so that what can
# only fail while rendering (``truncate('x')``) is reported here, at its line, not mid-send.
TRIAL_READERS = (
    {
        "subscriber": {
            **dict.fromkeys(("email", "first_name", "last_name", "full_name"), "Ana"),
            **dict.fromkeys(("organisation", "role", "region", "language"), "x"),
            "attributes": {},
        },
        "recipient": dict.fromkeys(("email", "first_name", "organisation"), "x"),
        **_LINKS,
    },
    {"subscriber": {"attributes": {}}, "recipient": {}, **_LINKS},
)
_OPEN, _CLOSE = "{{", "}}"


class ExpressionProblem(ValueError):
    """Why an expression is refused, in words for staff; the caller adds where it is.

    ``offset`` is where in the text the problem starts, when that is known.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class Found:
    """One ``{{ ... }}`` in a text: where it starts and ends, and what is between the braces."""

    start: int
    end: int
    expression: str


def find_expressions(text: str) -> Iterator[Found]:
    """Every ``{{ ... }}`` in ``text``; an opening ``{{`` without its ``}}`` is an ExpressionProblem
    whose ``offset`` is that of the ``{{`` (so the caller can name its line)."""
    position = text.find(_OPEN)
    while position != -1:
        close = text.find(_CLOSE, position + 2)
        reopened = text.find(_OPEN, position + 2)
        unclosed = close == -1 or (reopened != -1 and reopened < close)
        if unclosed or close - position > MAX_LENGTH:
            excerpt = text[position : position + 40].split("\n")[0]
            where = "never closed" if unclosed else f"not closed within {MAX_LENGTH} characters"
            raise ExpressionProblem(
                f"this '{{{{' is {where}: '{excerpt}' needs '}}}}' after the field, "
                "like {{ subscriber.first_name }}",
                position,
            )
        yield Found(position, close + 2, text[position + 2 : close].strip())
        position = text.find(_OPEN, close + 2)


def shown(expression: str) -> str:
    """The expression as it appears in messages: on one line and never long."""
    flat = " ".join(expression.split())
    return "{{ " + (flat if len(flat) <= 60 else flat[:57] + "...") + " }}"


def check_expression(expression: str) -> None:
    """Raise ExpressionProblem unless ``expression`` only shows fields and links through FILTERS."""
    try:
        template = _SYNTAX.parse(_OPEN + " " + expression + " " + _CLOSE)
    except jinja2.TemplateSyntaxError as err:
        raise ExpressionProblem(f"cannot read the expression {shown(expression)}: {err.message}") from None
    outputs = template.body
    if len(outputs) != 1 or not isinstance(outputs[0], nodes.Output) or len(outputs[0].nodes) != 1:
        raise ExpressionProblem(f"cannot read the expression {shown(expression)}")
    try:
        _check(outputs[0].nodes[0])
        _try(expression)
    except ExpressionProblem as problem:
        raise ExpressionProblem(f"{shown(expression)}: {problem.message}") from None


@functools.lru_cache(maxsize=512)
def _try(expression: str) -> None:
    """Render a checked expression in the sandbox for the trial readers."""
    try:
        template = _TRIAL.from_string(_OPEN + " " + expression + " " + _CLOSE)
        for context in TRIAL_READERS:
            template.render(context)
    except RENDER_ERRORS as err:
        message = getattr(err, "message", None) or str(err)
        raise ExpressionProblem(f"it fails when a mail is personalised ({message})") from None


def check_template(source: str, env: jinja2.Environment) -> nodes.Template:
    """Parse a per-recipient template and hold every expression in it to the same rules.

    Returns the syntax tree so the caller compiles it without parsing twice.
    """
    tree = env.parse(source)
    _check_statements(tree.body)
    return tree


def _check_statements(body: list[nodes.Node]) -> None:
    """Output, and the ``{% if %}`` of a conditional section (no elif/else) whose test and body are
    held to the same rules."""
    for output in body:
        if isinstance(output, nodes.If) and not output.elif_ and not output.else_:
            _check(output.test)
            _check_statements(output.body)
            continue
        if not isinstance(output, nodes.Output):
            raise ExpressionProblem(
                f"the template holds a '{{% {type(output).__name__.lower()} %}}' statement; "
                "only {{ ... }} expressions and the sections of '::: only' are allowed"
            )
        for node in output.nodes:
            if not isinstance(node, nodes.TemplateData):
                _check(node)


def _check(node: nodes.Node) -> None:  # one branch per kind of node, flat on purpose
    if isinstance(node, nodes.Name):
        _check_name(node.name)
    elif isinstance(node, nodes.Getattr):
        _check(node.node)  # innermost first: the message names the first thing that goes wrong
        _check_name(node.attr)
    elif isinstance(node, nodes.Getitem):
        _check(node.node)
        if not (isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str)):
            raise ExpressionProblem(
                "write a field as subscriber.attributes.NAME or subscriber.attributes['NAME']"
            )
        _check_name(node.arg.value)
    elif isinstance(node, nodes.Const):
        if not isinstance(node.value, str | int | float | bool | type(None)):
            raise ExpressionProblem(f"{node.value!r} is not a plain value")
    elif isinstance(node, nodes.Filter):
        _check_filter(node)
    elif isinstance(node, nodes.Test):
        if node.name not in TESTS:
            raise ExpressionProblem(f"the test 'is {node.name}' is not available; use: {', '.join(TESTS)}")
        _check_arguments(node)
    elif isinstance(node, nodes.Compare):
        for operand in node.ops:
            if operand.op not in COMPARISONS:
                raise _refused("arithmetic comparisons (<, >)")
            _check(operand.expr)
        _check(node.expr)
    elif isinstance(node, nodes.Tuple) and all(isinstance(item, nodes.Const) for item in node.items):
        for item in node.items:  # a list of plain values, as a section's condition compares with
            _check(item)
    elif isinstance(node, nodes.Concat | nodes.And | nodes.Or | nodes.Not | nodes.CondExpr):
        for child in node.iter_child_nodes():
            _check(child)
    elif isinstance(node, nodes.Call):
        raise _refused("calling functions or methods, such as (...) or .format(...)")
    elif isinstance(node, nodes.BinExpr | nodes.UnaryExpr):
        raise _refused(f"arithmetic ('{getattr(node, 'operator', '')}')")
    else:
        raise _refused(f"'{type(node).__name__}' expressions")


def _refused(what: str) -> ExpressionProblem:
    return ExpressionProblem(
        f"{what} cannot be used in an issue; an expression shows a reader's field or link, "
        "optionally through a filter, like {{ subscriber.first_name | default('there') }}"
    )


def _check_name(name: str) -> None:
    if name.startswith("_"):
        raise ExpressionProblem(f"'{name}' starts with '_': internal names cannot be used in an issue")
    if name in ENGINE_NAMES:
        raise ExpressionProblem(
            f"'{name}' belongs to the template engine, not to the reader; use subscriber.FIELD or a link "
            "such as preferences_url"
        )


def _check_filter(node: nodes.Filter) -> None:
    if node.name not in FILTERS:
        guess = get_close_matches(node.name, FILTERS, n=1)
        hint = f" (did you mean '{guess[0]}'?)" if guess else ""
        raise ExpressionProblem(
            f"unknown filter '{node.name}'{hint}; filters you can use: {', '.join(sorted(set(FILTERS)))}"
        )
    if node.node is not None:
        _check(node.node)
    _check_arguments(node)


def _check_arguments(node: nodes.Filter | nodes.Test) -> None:
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        raise _refused("'*' and '**' arguments")
    for argument in node.args:
        _check(argument)
    for keyword in node.kwargs:
        _check(keyword.value)
