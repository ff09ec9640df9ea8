"""``outreach check``: every finding about an issue before anyone else sees it.

Each check is a function of the issue and its rendered form that returns ``Finding``s with
``path:line`` where the Markdown has one; ``run_checks`` runs them all and never stops at the first.
"""

from outreach.checks.run import CheckReport, run_checks

__all__ = ["CheckReport", "run_checks"]
