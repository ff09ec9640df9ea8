"""The errors this stage adds to the tree: a scheduling request that cannot be honoured, a bad
automations file."""

from __future__ import annotations

from outreach.errors import Located, OutreachError


class SchedulingError(OutreachError):
    """A schedule, cancel or automation request that cannot be carried out; the message says why."""


class AutomationsFileError(Located, SchedulingError):
    """``newsletters/automations/automations.yaml`` is wrong at ``path:line``."""
