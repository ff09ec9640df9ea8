"""Issue -> compiled email: MJML layout, CSS inlining and the text part, once per issue.

``render_issue`` does all the per-issue work and returns a ``CompiledIssue`` whose ``personalise`` is
the only per-recipient step (see docs/internals.md).

The names are loaded on first use: a sending process imports ``outreach.render.personal`` (Jinja2
only) and must not pay for MJML, premailer and the content readers it never calls (~30 MB each).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outreach.render.compiled import CompiledIssue, render_issue
    from outreach.render.personal import Personalised

__all__ = ["CompiledIssue", "Personalised", "render_issue"]
_HOMES = {"CompiledIssue": "compiled", "render_issue": "compiled", "Personalised": "personal"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
