"""outreach: the newsletter and outreach pipeline of the Virginia Association for Infant Mental Health.

Markdown issues become responsive, accessible email; the audience lives in a database; delivery goes
through a ledger so that nobody gets the same campaign twice. See docs/internals.md for the flow.
"""

__version__ = "0.1.0"
