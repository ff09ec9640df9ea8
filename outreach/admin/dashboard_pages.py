"""The dashboard: where the list stands, how it grew, what was sent last and what is next, and whether
the mailbox providers would be happy with it.

Counting a large list takes a moment, so the app keeps the figures for ``FRESH_SECONDS`` and counts
again behind the reader's back (``outreach.operations.kept``); the page says how old they are.
"""

from __future__ import annotations

import threading

from starlette.requests import Request
from starlette.responses import Response

from outreach.accounts.schema import Role
from outreach.admin.routing import admin_route
from outreach.admin.state import AdminState, state_of
from outreach.audience import transaction
from outreach.operations.kept import Kept
from outreach.operations.overview import Dashboard, dashboard

FRESH_SECONDS = 60.0
_MAKING = threading.Lock()


def _count(state: AdminState) -> Dashboard:
    with transaction(state.engine) as session:
        return dashboard(session, state.clock.now(), state.config.time_zone)


def figures_of(request: Request) -> Kept[Dashboard]:
    """This app's kept dashboard figures, made on first use."""
    app_state = request.app.state
    kept: Kept[Dashboard] | None = getattr(app_state, "dashboard_figures", None)
    if kept is None:
        with _MAKING:
            kept = getattr(app_state, "dashboard_figures", None)
            if kept is None:
                state = state_of(request)
                kept = Kept(lambda: _count(state), FRESH_SECONDS, state.clock)
                app_state.dashboard_figures = kept
    return kept


def dashboard_page(request: Request) -> Response:
    state = state_of(request)
    figures, _ = figures_of(request).get()
    return state.render(
        request, "dashboard.html.j2", figures=figures, zone=state.config.time_zone, fresh=int(FRESH_SECONDS)
    )


ROUTES = [admin_route("/", dashboard_page, Role.VIEWER)]
SECTIONS = [("/", "Dashboard", Role.VIEWER)]
