"""The campaigns this admin app sends itself, in threads it owns (``outreach.operations.background``).

One ``BackgroundSends`` per app, made on first use: resuming a campaign or queueing its failed or
unknown recipients again from the browser hands it to a thread here, and a campaign this process is
already sending is never started twice. An ``outreach worker`` running beside the app shares the work
safely through the ledger's claims.
"""

from __future__ import annotations

import threading

from starlette.requests import Request

from outreach.admin.state import state_of
from outreach.operations.background import BackgroundSends

_MAKING = threading.Lock()


def sends_of(request: Request) -> BackgroundSends:
    """This app's background sends, made on first use."""
    app_state = request.app.state
    sends: BackgroundSends | None = getattr(app_state, "background_sends", None)
    if sends is None:
        with _MAKING:
            sends = getattr(app_state, "background_sends", None)
            if sends is None:
                state = state_of(request)
                sends = BackgroundSends(state.config, state.engine)
                app_state.background_sends = sends
    return sends
