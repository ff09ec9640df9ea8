"""The Jinja2 environment issue expressions run in, per recipient: sandboxed, bare and strict.

Jinja2's immutable sandbox blocks ``_``-attributes, unsafe callables and mutation; on top of that this
environment has no globals (no ``range``, ``lipsum``, ``cycler``, ``joiner``, ``namespace``), only the
filters and tests of ``outreach.content.expressions``, no arithmetic, and it raises where the stock
sandbox would print an unsafe attribute as a blank. Expressions are checked before they get here;
this is the second wall, not the first.
"""

from __future__ import annotations

from typing import Any, NoReturn

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# The filters an issue may use; each is a pure function of a short string.
FILTERS = (
    "capitalize",
    "default",
    "d",
    "e",
    "escape",
    "lower",
    "replace",
    "title",
    "trim",
    "truncate",
    "upper",
    "urlencode",
)
TESTS = ("defined", "undefined", "none")

# What rendering a checked template can still raise: the sandbox refusing, an undefined name called,
# a filter given the wrong kind of value (``truncate('x')``).
RENDER_ERRORS = (jinja2.TemplateError, TypeError, ValueError, LookupError)


class _IssueSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, except that an unsafe attribute raises instead of rendering blank."""

    # Arithmetic has no place in a greeting; refused, 'x' * 10**9 cannot exhaust memory (and Jinja2
    # does not fold such constants at compile time either).
    intercepted_binops = frozenset({"*", "**", "/", "//", "%", "+", "-"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        raise SecurityError(f"access to {attribute!r} of a {type(obj).__name__} is not allowed")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> NoReturn:
        raise SecurityError(f"arithmetic ({operator!r}) is not allowed")


def issue_sandbox(autoescape: bool, newline: str = "\n") -> jinja2.Environment:
    """A new sandbox; ``newline`` is what Jinja2 writes for every line end when compiling."""
    env = _IssueSandbox(
        autoescape=autoescape,
        undefined=jinja2.ChainableUndefined,  # a missing field is empty, so `default` works
        newline_sequence=newline,  # type: ignore[arg-type]
        keep_trailing_newline=True,
        # The only statements here are the {% if %}/{% endif %} lines of conditional sections: each
        # vanishes with its line end, so a hidden section leaves no blank line behind.
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in FILTERS}
    env.tests = {name: env.tests[name] for name in TESTS}
    return env
