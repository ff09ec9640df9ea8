"""The shape of a parsed body: how deep quotes and lists nest, and where its headings sit.

Both are decided on markdown-it's token stream, before any block is built.
"""

from __future__ import annotations

from collections.abc import Sequence

from markdown_it.token import Token

from outreach.errors import ContentError

# Quotes and lists inside each other. Three or four levels is already hard to follow in a mail;
# past this, markdown-it would drop the rest of the text without a word.
MAX_DEPTH = 8
_NESTING = ("blockquote", "bullet_list", "ordered_list")


def check_depth(tokens: Sequence[Token], path: str, first_line: int) -> None:
    """Refuse quotes and lists nested more than MAX_DEPTH deep, at the line where it goes too far."""
    depth = 0
    for token in tokens:
        kind = token.type.removesuffix("_open").removesuffix("_close")
        if kind not in _NESTING:
            continue
        depth += token.nesting
        if depth > MAX_DEPTH:
            line = first_line + (token.map[0] if token.map else 0)
            raise ContentError(
                f"quotes and lists are nested more than {MAX_DEPTH} levels deep here; flatten them "
                "(readers lose the thread, and mail clients cut what lies deeper)",
                path,
                line,
            )


def heading_shift(tokens: Sequence[Token]) -> int:
    """1 when the body uses '#' headings: they become sections under the issue's own title (h1)."""
    return int(any(t.type == "heading_open" and t.tag == "h1" for t in tokens))


def shift_headings(tokens: Sequence[Token], shift: int) -> None:
    """Move every heading ``shift`` levels down (h1 -> h2 ...), never past h6."""
    if not shift:
        return
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + shift)}"
