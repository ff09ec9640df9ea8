"""YAML that staff and admins write (front matter, segments, topics, automations), read with limits.

PyYAML's ``safe_load`` runs no code, but it still expands aliases and recurses without bound: a
"billion laughs" document of nested aliases takes minutes to walk, and a few thousand levels of
nesting end in a ``RecursionError``. People never need aliases in these files, so an alias is refused
at its line; nesting and size are capped. Every refusal is a ``Located`` error (``path:line``) of the
caller's kind, so it reads like any other mistake in that file.
"""

from __future__ import annotations

from typing import Any

import yaml

from outreach.errors import Located

# Front matter and segment files are a few kilobytes; a megabyte is a mistake (or an attack).
MAX_BYTES = 1_000_000
# Segments nest rules a few levels deep; 40 is far beyond any real file and far below the recursion limit.
MAX_DEPTH = 40


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` that refuses aliases and caps the depth while composing the node tree."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise _Refused("uses an alias ('*name'); write the value out instead", event.start_mark)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(f"nests more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.depth -= 1


class _Refused(Exception):
    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


def compose(text: str, path: str, error: type[Located], first_line: int = 1) -> yaml.Node | None:
    """The node tree of ``text`` (with line marks), or ``error(message, path, line)``.

    ``first_line`` is the file line of the text's first line (front matter starts after its fence).
    ``yaml.YAMLError`` is left for the caller, which knows how to phrase a syntax mistake.
    """
    _check_size(text, path, error, first_line)
    loader = _Loader(text)
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    except _Refused as refused:
        line = first_line + (refused.mark.line if refused.mark else 0)
        raise error(f"this YAML {refused.message}", path, line) from None
    except RecursionError:
        raise error(f"this YAML nests too deeply (more than {MAX_DEPTH} levels)", path, first_line) from None
    finally:
        loader.dispose()


def load(text: str, path: str, error: type[Located], first_line: int = 1) -> Any:
    """Like ``yaml.safe_load`` with the limits above; the same Python values."""
    node = compose(text, path, error, first_line)
    if node is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_size(text: str, path: str, error: type[Located], first_line: int) -> None:
    if len(text) > MAX_BYTES:
        raise error(
            f"this YAML is {len(text):,} characters; the limit is {MAX_BYTES:,}. Is it the right file?",
            path,
            first_line,
        )
