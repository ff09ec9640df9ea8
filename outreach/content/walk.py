"""Every block of an issue, wherever it stands: at the top, in a column, in a conditional section."""

from __future__ import annotations

from collections.abc import Iterator

from outreach.models import Block, Columns, Section


def every_block(blocks: tuple[Block, ...]) -> Iterator[Block]:
    """Each block in reading order, the blocks inside columns and sections included (after them)."""
    for block in blocks:
        yield block
        if isinstance(block, Columns):
            yield from every_block(block.left)
            yield from every_block(block.right)
        elif isinstance(block, Section):
            yield from every_block(block.blocks)
