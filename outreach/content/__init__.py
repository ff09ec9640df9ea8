"""Reading an issue: front matter -> validated fields, Markdown -> blocks of HTML and text.

``read_issue(path)`` is the one entry; everything here is a pure function of the file's text.

The names are loaded on first use: a sending process imports ``outreach.content.sandbox`` (through the
personal templates) and must not pay for the Markdown and front matter readers it never calls.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outreach.content.issue import read_issue, read_issue_text

__all__ = ["read_issue", "read_issue_text"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.issue"), name)
