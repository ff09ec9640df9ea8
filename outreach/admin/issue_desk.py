"""What the Issues pages keep between requests: the checked list, the rendered previews, the sends.

One ``IssueDesk`` per admin app, made on first use and kept on the app's state: checking and
rendering an issue is kept until one of its files changes (the list and the preview frames would
otherwise render the same issue many times a minute), and the campaigns started from the app are
sent by threads the app owns (``outreach.operations.background``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request

from outreach.admin.state import state_of
from outreach.operations.background import BackgroundSends
from outreach.operations.issues import IssueShelf
from outreach.operations.sample import SamplePreview

_MAKING = threading.Lock()


@dataclass
class IssueDesk:
    shelf: IssueShelf
    sends: BackgroundSends
    _previews: dict[Path, SamplePreview] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def preview(self, request: Request, path: Path) -> SamplePreview:
        """The issue's preview, rendered with the app's config (kept while its files stay the same)."""
        with self._lock:
            found = self._previews.get(path)
            if found is None:
                state = state_of(request)
                found = SamplePreview(path, state.config, clock=state.clock, reload_config=False)
                self._previews[path] = found
            return found


def desk_of(request: Request) -> IssueDesk:
    """This app's desk, made on first use."""
    app_state = request.app.state
    desk: IssueDesk | None = getattr(app_state, "issue_desk", None)
    if desk is None:
        with _MAKING:
            desk = getattr(app_state, "issue_desk", None)
            if desk is None:
                state = state_of(request)
                desk = IssueDesk(
                    IssueShelf(state.config), BackgroundSends(state.config, state.engine, clock=state.clock)
                )
                app_state.issue_desk = desk
    return desk
