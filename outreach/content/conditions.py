"""The condition of a ``::: only`` or ``::: unless`` section: a few segment rule fields, read safely.

Staff write who a part of an issue is for on the block's opening line, never template code::

    ::: only role=mental-health-clinician
    ::: only topic=trainings language=es
    ::: unless role=parent-or-caregiver,home-visitor

Each ``field=value`` is a term; a comma lists values of which one is enough, and every term must hold
(``unless``: the section shows to everyone the ``only`` would not). The fields are those of segment
rules that each recipient's message knows (``FIELDS``), and they mean what segments mean: a role,
region or language equals one of the values, a topic is one the reader receives. The condition becomes
one cheap ``{% if %}`` per section in the per-recipient template (``expression``); values are checked
against the site's lists by ``outreach check``, where the lists are known.
"""

from __future__ import annotations

import re
from difflib import get_close_matches

from outreach.content.placeholders import TOKEN
from outreach.errors import ContentError
from outreach.models import Condition, Term

# field -> the per-recipient variable it reads: a plain name in the recipient context, not a field of
# ``subscriber`` (each ``subscriber.x`` is a sandboxed attribute lookup, and conditions are evaluated
# for every recipient in both parts).
FIELDS = {
    "role": "reader_role",
    "language": "reader_language",
    "region": "reader_region",
    "topic": "reader_topics",
}
KINDS = ("only", "unless")
# A value is a key of the site's lists (letters, digits, '-', '_', '.', spaces inside quotes): nothing
# that could end a string in the compiled template.
_VALUE = re.compile(r"^[\w][\w .-]*$")
_TERM = re.compile(r'\s*([A-Za-z_.]+)\s*=\s*("([^"]*)"|\'([^\']*)\'|[^\s"\']+)')
EXAMPLE = "::: only role=mental-health-clinician (or topic=trainings, language=es)"


def parse_condition(kind: str, text: str, path: str, line: int) -> Condition:
    """The condition after ``::: only`` / ``::: unless``; a ContentError at ``line`` says what to fix."""
    terms: list[Term] = []
    position = 0
    text = text.strip()
    if TOKEN.search(text):  # a {{ ... }} held as a token by ``placeholders.extract``
        raise ContentError(
            f"'::: {kind}' compares the reader's fields with fixed values; a {{{{ ... }}}} expression "
            f"cannot be used there. Write the key, like {EXAMPLE.replace('only', kind, 1)}",
            path,
            line,
        )
    if not text:
        raise ContentError(
            f"'::: {kind}' needs a condition, like {EXAMPLE.replace('only', kind, 1)}; "
            f"fields: {', '.join(FIELDS)}",
            path,
            line,
        )
    while position < len(text):
        match = _TERM.match(text, position)
        if not match:
            rest = text[position:].strip()
            raise ContentError(
                f"cannot read {rest!r} in '::: {kind}': write each condition as field=value "
                f"(several values: field=a,b), like {EXAMPLE.replace('only', kind, 1)}",
                path,
                line,
            )
        field = match.group(1).lower()
        if field not in FIELDS:
            guess = get_close_matches(field.rstrip("s"), FIELDS, n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            raise ContentError(
                f"unknown field '{field}' in '::: {kind}'{hint}; fields a section can depend on: "
                f"{', '.join(FIELDS)}",
                path,
                line,
            )
        quoted = match.group(3) if match.group(3) is not None else match.group(4)
        raw = quoted if quoted is not None else match.group(2)
        values = tuple(v.strip() for v in raw.split(","))
        for value in values:
            if not _VALUE.match(value):
                raise ContentError(
                    f"'{field}={raw}' in '::: {kind}' holds an empty or unusual value {value!r}; "
                    "write the key from the site's list, like role=home-visitor",
                    path,
                    line,
                )
        if any(t.field == field for t in terms):
            raise ContentError(
                f"'{field}' appears twice in '::: {kind}'; list the values once: {field}=a,b", path, line
            )
        terms.append(Term(field, values))
        position = match.end()
    return Condition(tuple(terms), negated=kind == "unless")


def expression(condition: Condition) -> str:
    """The condition as a sandbox expression over the recipient context (``outreach.render.personal``)."""
    parts = []
    for term in condition.terms:
        variable = FIELDS[term.field]
        if term.field == "topic":
            parts.append("(" + " or ".join(f"'{value}' in {variable}" for value in term.values) + ")")
        elif len(term.values) == 1:
            parts.append(f"{variable} == '{term.values[0]}'")
        else:
            parts.append(f"{variable} in (" + ", ".join(f"'{value}'" for value in term.values) + ",)")
    joined = " and ".join(parts)
    return f"not ({joined})" if condition.negated else joined


def describe(condition: Condition) -> str:
    """The condition in words, for the preview and messages: 'only readers whose role is ...'."""
    words = []
    for term in condition.terms:
        values = " or ".join(term.values)
        words.append(f"who receive {values}" if term.field == "topic" else f"whose {term.field} is {values}")
    who = " and ".join(words)
    return f"everyone except readers {who}" if condition.negated else f"only readers {who}"
