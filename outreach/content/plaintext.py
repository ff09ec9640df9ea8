"""Markdown tokens -> a readable plain-text part (not a "view in browser" stub).

Mail clients that show the text part, screen readers and spam filters all read it, so it keeps the
whole content: headings underlined, lists, quotes, tables as rows, and links written out.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from markdown_it.token import Token

WIDTH = 72


def inline_text(token: Token) -> str:
    """The text of an inline token, with links written as ``text (url)``."""
    out: list[str] = []
    href: str | None = None
    link_text: list[str] = []
    for child in token.children or []:
        target = link_text if href is not None else out
        if child.type == "text" or child.type == "code_inline":
            target.append(child.content)
        elif child.type in ("softbreak",):
            target.append(" ")
        elif child.type == "hardbreak":
            target.append("\n")
        elif child.type == "image":
            target.append(f"[{child.content or 'image'}]")
        elif child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            link_text = []
        elif child.type == "link_close":
            label = "".join(link_text).strip()
            if href and label and label != href:
                out.append(f"{label} ({href})")
            else:
                out.append(href or label)
            href = None
    return "".join(out)


def _wrap(text: str, prefix: str = "", first: str | None = None) -> str:
    lines = []
    for index, part in enumerate(text.split("\n")):
        initial = first if (first is not None and index == 0) else prefix
        lines.append(
            textwrap.fill(
                part,
                WIDTH,
                initial_indent=initial,
                subsequent_indent=prefix,
                break_long_words=False,
                break_on_hyphens=False,
            )
            or initial.rstrip()
        )
    return "\n".join(lines)


def render_text(tokens: Sequence[Token]) -> str:
    """Render block tokens (a slice of a markdown-it stream) as plain text paragraphs."""
    blocks: list[str] = []
    prefix_stack: list[str] = []
    list_stack: list[list[int]] = []  # per open list: [next number or -1 for bullets, items seen]
    pending_item_marker: str | None = None
    table_row: list[str] = []
    table_rows: list[list[str]] = []
    in_cell = False
    heading_level = 0

    for token in tokens:
        prefix = "".join(prefix_stack)
        kind = token.type
        if kind == "heading_open":
            heading_level = int(token.tag[1])
        elif kind in ("th_open", "td_open", "th_close", "td_close"):
            in_cell = kind.endswith("open")
        elif kind == "inline" and in_cell:
            table_row.append(inline_text(token).strip())
        elif kind == "inline":
            text = inline_text(token).strip()
            if heading_level:
                underline = ("=" if heading_level <= 2 else "-") * min(len(text), WIDTH)
                blocks.append(f"{text.upper() if heading_level == 1 else text}\n{underline}")
                heading_level = 0
            elif pending_item_marker is not None:
                outer = "".join(prefix_stack[:-1])
                item = _wrap(text, prefix, outer + pending_item_marker)
                if list_stack and list_stack[-1][1] and blocks:
                    blocks[-1] += "\n" + item  # a tight list: one item per line
                else:
                    blocks.append(item)
                if list_stack:
                    list_stack[-1][1] = 1
                pending_item_marker = None
            else:
                blocks.append(_wrap(text, prefix))
        elif kind == "bullet_list_open":
            list_stack.append([-1, 0])
        elif kind == "ordered_list_open":
            list_stack.append([int(str(token.attrs.get("start", 1))), 0])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            list_stack.pop()
        elif kind == "list_item_open":
            counter = list_stack[-1]
            if counter[0] < 0:
                pending_item_marker = "- "
            else:
                pending_item_marker = f"{counter[0]}. "
                counter[0] += 1
            prefix_stack.append(" " * len(pending_item_marker))
        elif kind == "list_item_close":
            prefix_stack.pop()
        elif kind == "blockquote_open":
            prefix_stack.append("> ")
        elif kind == "blockquote_close":
            prefix_stack.pop()
        elif kind == "hr":
            blocks.append("* * *")
        elif kind in ("fence", "code_block"):
            blocks.append("\n".join(prefix + "    " + line for line in token.content.rstrip().split("\n")))
        elif kind == "table_open":
            table_rows = []
        elif kind == "tr_open":
            table_row = []
        elif kind == "tr_close":
            table_rows.append(table_row)
        elif kind == "table_close":
            blocks.append("\n".join(prefix + " | ".join(row) for row in table_rows))
            table_rows = []
    return _join(blocks)


def _join(blocks: list[str]) -> str:
    return "\n\n".join(b for b in blocks if b.strip())
