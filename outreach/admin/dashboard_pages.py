"""The dashboard: where the list stands and what was sent last."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from outreach.accounts.schema import Role
from outreach.admin.routing import admin_route
from outreach.admin.state import state_of
from outreach.audience import transaction
from outreach.operations.overview import recent_campaigns, subscribers_by_status


def dashboard(request: Request) -> Response:
    state = state_of(request)
    with transaction(state.engine) as session:
        statuses = subscribers_by_status(session)
        campaigns = recent_campaigns(session)
    return state.render(
        request,
        "dashboard.html.j2",
        statuses=statuses,
        total=sum(statuses.values()),
        campaigns=campaigns,
        zone=state.config.time_zone,
    )


ROUTES = [admin_route("/", dashboard, Role.VIEWER)]
SECTIONS = [("/", "Dashboard", Role.VIEWER)]
