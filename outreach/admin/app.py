"""The admin app: staff and admins run the newsletter from a browser.

``create_admin_app`` builds a Starlette app that ``outreach serve`` mounts at ``/admin/`` (or serves
alone on a private address with ``--admin-only``). Pages are rendered on the server and work without
JavaScript; a few lines of our own script (vendored in ``static/``) add live counts and progress.
Every route declares the role it needs (``outreach.admin.routing``); every change goes through the
library functions the command line uses, which write the audit log.
"""

from __future__ import annotations

import functools
import logging

import jinja2
from markupsafe import Markup
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from outreach.accounts.schema import Role
from outreach.admin import (
    account_pages,
    api_openapi,
    api_people,
    api_read,
    api_send,
    campaign_stream,
    campaigns_pages,
    dashboard_pages,
    imports_pages,
    issue_preview,
    issues_pages,
    lists_pages,
    people_pages,
    report_pages,
    segments_pages,
    send_pages,
    signin_pages,
    subscribers_pages,
)
from outreach.admin.state import AdminState
from outreach.charts import Chart, to_svg
from outreach.clock import Clock, SystemClock
from outreach.config import Config

log = logging.getLogger("outreach.admin")

# Page modules: each has ROUTES, and SECTIONS for the navigation (path, label, the role that sees it).
MODULES = [
    dashboard_pages,
    signin_pages,
    account_pages,
    subscribers_pages,
    lists_pages,
    people_pages,
    issues_pages,
    issue_preview,
    send_pages,
    campaigns_pages,
    campaign_stream,
    report_pages,
    segments_pages,
    imports_pages,
    api_read,
    api_people,
    api_send,
    api_openapi,
]


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("outreach.admin", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = _local
    env.filters["svg"] = _svg
    return env


def _svg(chart: Chart) -> Markup:
    """A chart as inline SVG (``to_svg`` escapes every text it writes)."""
    return Markup(to_svg(chart))


def _local(moment: object, zone: object) -> str:
    """A stored time as people read it: the site's zone, named."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if not isinstance(moment, datetime) or not isinstance(zone, ZoneInfo):
        return "never" if moment is None else str(moment)
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def create_admin_app(config: Config, engine: Engine, clock: Clock | None = None) -> Starlette:
    """The admin app for this site's config and database."""
    sections: list[tuple[str, str, Role]] = []
    routes: list[BaseRoute] = []
    for module in MODULES:
        routes.extend(module.ROUTES)
        sections.extend(getattr(module, "SECTIONS", []))
    routes.append(Mount("/static", StaticFiles(packages=[("outreach.admin", "static")]), name="static"))
    state = AdminState(
        config=config, engine=engine, clock=clock or SystemClock(), env=environment(), sections=sections
    )

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 500:
            log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        if request.url.path.startswith(str(request.scope.get("root_path", "")).rstrip("/") + "/api/"):
            return api_error(status, getattr(exc, "headers", None) or {})
        titles = {
            404: ("Page not found", "There is no page at this address."),
            405: ("Not allowed", "This page cannot be used that way."),
        }
        title, message = titles.get(
            status, ("Something went wrong", "We are sorry. Please try again in a little while.")
        )
        request.state.signed = None
        return state.render(request, "message.html.j2", status=status, title=title, message=message)

    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found, Exception: not_found})
    app.state.admin = state
    return app


API_ERRORS = {
    404: "There is nothing at this address; GET /admin/api/openapi.json lists the API.",
    405: "This address does not take that method; GET /admin/api/openapi.json lists the API.",
}


def api_error(status: int, headers: dict[str, str]) -> Response:
    """The API's answer when no route handled the request: JSON, never the HTML page (a 405 keeps
    its ``Allow`` header, which says the methods the address takes)."""
    message = API_ERRORS.get(status, "Something went wrong on our side. Please try again in a little while.")
    return JSONResponse(
        {"error": message}, status_code=status, headers={**headers, "Cache-Control": "no-store"}
    )


def stop_background_sends(app: Starlette) -> None:
    """Stop the campaigns this admin app sends in the background (the serving process is ending):
    chunks in flight are answered and recorded, the rest stays pending for a worker or a resume."""
    desk = getattr(app.state, "issue_desk", None)
    if desk is not None:
        desk.sends.stop()
