"""Issue -> compiled email: MJML layout, CSS inlining and the text part, once per issue.

``render_issue`` does all the per-issue work and returns a ``CompiledIssue`` whose ``personalise`` is
the only per-recipient step (see docs/internals.md).
"""

from outreach.render.compiled import CompiledIssue, render_issue
from outreach.render.personal import Personalised

__all__ = ["CompiledIssue", "Personalised", "render_issue"]
