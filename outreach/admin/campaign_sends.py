"""The campaigns this admin app sends itself, in threads it owns (``outreach.operations.background``).

There is one ``BackgroundSends`` per app, the one the Issues pages start sends with (kept on the app's
issue desk): resuming a campaign or queueing its failed or unknown recipients again from the browser
hands it to a thread there, so a campaign this process is already sending is never started twice. An
``outreach worker`` running beside the app shares the work safely through the ledger's claims.
"""

from __future__ import annotations

from starlette.requests import Request

from outreach.admin.issue_desk import desk_of
from outreach.operations.background import BackgroundSends


def sends_of(request: Request) -> BackgroundSends:
    """This app's background sends, shared with the Issues pages."""
    return desk_of(request).sends
