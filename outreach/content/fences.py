"""The ``:::`` blocks of an issue's body: opened and closed in pairs, nested only where that makes sense.

markdown-it's container plugin never says a block is unclosed: it ends the block wherever the next
``:::`` line happens to be, so a callout whose closing line was forgotten silently swallows the button
after it (and the button's link vanishes from the mail). Here the body's ``:::`` lines are read first,
as staff think of them (each closing line closes the innermost open block), and every mistake is an
error at the line of the block that was left open. The lines are then rewritten with the number of
colons markdown-it needs to nest them the same way, so authors never count colons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import get_close_matches

from outreach.errors import ContentError

COMPONENTS = ("button", "callout", "event", "image", "columns", "column", "only", "unless")
LEAVES = ("button", "callout", "event", "image")
SECTIONS = ("only", "unless")  # conditional sections: a part of the issue for some readers
# What may be opened directly inside what (None: the body itself).
INSIDE: dict[str | None, tuple[str, ...]] = {
    None: (*LEAVES, "columns", *SECTIONS),
    "columns": ("column",),
    "column": LEAVES,
    "only": (*LEAVES, "columns", *SECTIONS),
    "unless": (*LEAVES, "columns", *SECTIONS),
}

_FENCE = re.compile(r"^( {0,3})(:{3,})[ \t]*(.*?)[ \t]*$")
_CODE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass
class _Block:
    name: str
    opening: int  # index of the opening line in the body
    colons: int
    closing: int = -1
    height: int = 0  # how many levels of blocks it holds: 0 for a button, 1 for a column with one
    children: list[_Block] = field(default_factory=list)


class _Outline:
    def __init__(self, lines: list[str], path: str, first_line: int) -> None:
        self.lines = lines
        self.path = path
        self.first_line = first_line
        self.stack: list[_Block] = []
        self.blocks: list[_Block] = []

    def error(self, message: str, index: int) -> ContentError:
        return ContentError(message, self.path, self.first_line + index)

    def line(self, index: int) -> int:
        return self.first_line + index

    def open(self, name: str, colons: int, index: int) -> None:
        parent = self.stack[-1] if self.stack else None
        if name not in COMPONENTS:
            guess = get_close_matches(name, COMPONENTS, n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            raise self.error(
                f"unknown block '{name}' after ':::'{hint}; known: {', '.join(COMPONENTS)} "
                "(each block needs a closing ':::' line)",
                index,
            )
        allowed = INSIDE.get(parent.name if parent else None, ())
        if name not in allowed:
            raise self._misplaced(name, parent, index)
        self.stack.append(_Block(name, index, colons))

    def _misplaced(self, name: str, parent: _Block | None, index: int) -> ContentError:
        if parent is not None and (parent.name in LEAVES or (parent.name, name) == ("column", "column")):
            return self.unclosed(parent, before=index)
        if name == "column":
            return self.error("'::: column' belongs inside ':::: columns'", index)
        if name in SECTIONS:
            return self.error(
                f"a '::: {name}' section cannot be inside a column: put the whole ':::: columns' block "
                f"inside the '::: {name}' section",
                index,
            )
        if parent is not None and parent.name == "columns":
            return self.error(
                f"inside ':::: columns' put exactly two '::: column' blocks; this '::: {name}' "
                "belongs inside one of them",
                index,
            )
        return self.error("a ':::: columns' block cannot be inside another one", index)

    def unclosed(self, block: _Block, before: int | None = None) -> ContentError:
        where = f"before line {self.line(before)}" if before is not None else "after it"
        return self.error(
            f"this '{written(block.name)}' block is never closed: "
            f"add a '{written(block.name, closing=True)}' line {where}",
            block.opening,
        )

    def close(self, colons: int, index: int) -> None:
        if not self.stack:
            raise self.error(
                "this ':::' closes no block: remove it, or check that the block above opens with "
                "'::: button', '::: callout', '::: event', '::: image', ':::: columns', '::: only' or "
                "'::: unless'",
                index,
            )
        top = self.stack[-1]
        # ':::: columns' is closed by '::::'; if that is the line here, the column inside was left open.
        if colons != top.colons and any(b.colons == colons for b in self.stack[:-1]):
            raise self.unclosed(top, before=index)
        self.stack.pop()
        top.closing = index
        top.height = 1 + max((c.height for c in top.children), default=-1)
        (self.stack[-1].children if self.stack else self.blocks).append(top)

    def finish(self) -> None:
        if self.stack:
            raise self.unclosed(self.stack[-1])


def written(name: str, closing: bool = False) -> str:
    """How the README writes a block's opening (or closing) line: '::: callout', ':::: columns'."""
    colons = "::::" if name == "columns" else ":::"
    return colons if closing else f"{colons} {name}"


def outline_blocks(source: str, path: str, first_line: int) -> str:
    """Check the ``:::`` pairs of ``source``; return it with the colons markdown-it needs to nest them.

    ``first_line`` is the file line of the body's first line. Lines inside fenced code are not blocks.
    """
    lines = source.split("\n")
    outline = _Outline(lines, path, first_line)
    code: str | None = None
    for index, raw in enumerate(lines):
        if code is not None:
            if raw.strip().startswith(code) and not raw.strip().lstrip(code[0]):
                code = None
            continue
        opening_code = _CODE.match(raw)
        if opening_code:
            code = opening_code.group(1)
            continue
        match = _FENCE.match(raw)
        if not match:
            continue
        name = (match.group(3).split() or [""])[0].lower()
        if name:
            outline.open(name, len(match.group(2)), index)
        else:
            outline.close(len(match.group(2)), index)
    outline.finish()
    return _with_colons(lines, outline.blocks)


def _with_colons(lines: list[str], blocks: list[_Block]) -> str:
    """Give each block 3 colons more than the blocks it holds, so markdown-it nests them as read."""
    pending = list(blocks)
    while pending:
        block = pending.pop()
        colons = ":" * (3 + block.height)
        for index in (block.opening, block.closing):
            match = _FENCE.match(lines[index])
            assert match is not None
            lines[index] = f"{match.group(1)}{colons}{' ' if match.group(3) else ''}{match.group(3)}"
        pending.extend(block.children)
    return "\n".join(lines)
