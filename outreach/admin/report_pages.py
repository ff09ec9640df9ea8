"""A campaign's report: figures, charts over time, top links and history, and the same as files.

Viewers may read and download it: it holds counts and the campaign's own links, never a person.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from outreach.accounts.schema import Role
from outreach.admin.campaigns_pages import not_found
from outreach.admin.report_file import report_html
from outreach.admin.routing import admin_route
from outreach.admin.state import NO_STORE, state_of
from outreach.audience import transaction
from outreach.errors import DeliveryError
from outreach.operations.reports import FullReport, campaign_full_report, figures_csv, timeline_csv


def _report(request: Request) -> FullReport | None:
    state = state_of(request)
    try:
        with transaction(state.engine) as session:
            return campaign_full_report(
                session, int(request.path_params["campaign_id"]), state.config.time_zone, state.clock.now()
            )
    except DeliveryError:
        return None


def report(request: Request) -> Response:
    found = _report(request)
    if found is None:
        return not_found(request)
    state = state_of(request)
    return state.render(
        request, "report.html.j2", report=found, zone=state.config.time_zone, standalone=False
    )


def _download(content: str, media_type: str, name: str) -> Response:
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(content, media_type=media_type, headers=headers)


def report_csv(request: Request) -> Response:
    found = _report(request)
    if found is None:
        return not_found(request)
    return _download(
        figures_csv(found), "text/csv; charset=utf-8", f"campaign-{found.figures.campaign_id}.csv"
    )


def report_times_csv(request: Request) -> Response:
    found = _report(request)
    if found is None:
        return not_found(request)
    name = f"campaign-{found.figures.campaign_id}-over-time.csv"
    return _download(timeline_csv(found), "text/csv; charset=utf-8", name)


def report_file(request: Request) -> Response:
    found = _report(request)
    if found is None:
        return not_found(request)
    name = f"campaign-{found.figures.campaign_id}-report.html"
    response = _download(report_html(found, state_of(request).config), "text/html; charset=utf-8", name)
    # The file has its own inline stylesheet: it is downloaded, never shown inside the app.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response


ROUTES = [
    admin_route("/campaigns/{campaign_id:int}/report", report, Role.VIEWER),
    admin_route("/campaigns/{campaign_id:int}/report.csv", report_csv, Role.VIEWER),
    admin_route("/campaigns/{campaign_id:int}/report-over-time.csv", report_times_csv, Role.VIEWER),
    admin_route("/campaigns/{campaign_id:int}/report.html", report_file, Role.VIEWER),
]
