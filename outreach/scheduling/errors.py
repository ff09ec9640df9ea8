"""The one error this stage adds to the tree: a scheduling request that cannot be honoured."""

from __future__ import annotations

from outreach.errors import OutreachError


class SchedulingError(OutreachError):
    """A schedule, cancel or automation request that cannot be carried out; the message says why."""
