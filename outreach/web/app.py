"""The subscriber web service: sign-up, confirmation, unsubscribe, preferences, archive, clicks.

``create_app`` builds the Starlette app from a ``Config`` and an ``Engine`` (and, for tests, a
transport and a clock). ``outreach serve`` runs it under uvicorn; its ``[web] base_url`` is what every
link in every mail points to.

Webhooks hook: when the module ``outreach.web.webhooks`` exists, the routes of its
``webhook_routes(state)`` are mounted, where ``state`` is ``state_from_config(config, engine, clock)``
of that module (or, if it has none, this app's ``WebState``); its ``WEBHOOK_OPENAPI`` mapping (``paths``
and ``components``) is merged into ``/openapi.json``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from outreach.admin.app import create_admin_app, stop_background_sends
from outreach.clock import Clock, SystemClock
from outreach.config import Config
from outreach.errors import DatabaseError
from outreach.i18n import N_
from outreach.transports.base import Transport
from outreach.web import api, archive, calendar, clicks, leave, preferences, subscribe
from outreach.web.confirm_mail import ConfirmationMail
from outreach.web.guard import MAX_BODY, WEBHOOK_PREFIX, RequestGuard
from outreach.web.language import LanguageChoice
from outreach.web.logs import redact_path
from outreach.web.openapi import document
from outreach.web.origin import SameOrigin
from outreach.web.pages import Pages
from outreach.web.ratelimit import RateLimiter
from outreach.web.security import COMMON, PAGE_CSP, SecurityHeaders
from outreach.web.signup import choices_for
from outreach.web.state import SIGNUPS_PER_IP, WebState

log = logging.getLogger("outreach.web")
WEBHOOKS = "outreach.web.webhooks"
JSON = "application/json"
HTML = "text/html; charset=utf-8"

FROM_ELSEWHERE = N_(
    "This form came from somewhere else, or has been open for a long time. "
    "Please reload the page and send it again."
)
STATUS_TITLES = {
    400: (N_("Something went wrong"), N_("We could not read that request.")),
    404: (N_("Page not found"), N_("There is no page at this address.")),
    405: (N_("Not allowed"), N_("This page cannot be used that way.")),
    413: (N_("Too much"), N_("That was more than this page accepts.")),
}


def _webhooks(state: WebState) -> tuple[list[BaseRoute], dict[str, Any]]:
    """The webhook module's routes and OpenAPI paths, when that module is installed."""
    if importlib.util.find_spec(WEBHOOKS) is None:
        return [], {}
    module = importlib.import_module(WEBHOOKS)
    routes_for: Callable[[Any], list[BaseRoute]] | None = getattr(module, "webhook_routes", None)
    if routes_for is None:
        return [], {}
    make_state: Callable[..., Any] | None = getattr(module, "state_from_config", None)
    hook_state = make_state(state.config, state.engine, state.clock) if make_state else state
    return list(routes_for(hook_state)), dict(getattr(module, "WEBHOOK_OPENAPI", {}) or {})


def one_route_per_path(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Routes that share a path, joined into one that dispatches on the method, so that a method
    none of them has gets a 405 whose ``Allow`` names every method the path does take."""
    handlers: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    joined: list[BaseRoute] = []
    for route in routes:
        if not isinstance(route, Route) or not route.methods:
            joined.append(route)
            continue
        if route.path not in handlers:
            handlers[route.path] = {}
            joined.append(route)  # a placeholder, keeping the order of first appearance
        for method in route.methods:
            handlers[route.path].setdefault(method, route.endpoint)
    return [
        _dispatching(r.path, handlers[r.path]) if isinstance(r, Route) and r.methods else r for r in joined
    ]


def _dispatching(path: str, by_method: dict[str, Callable[[Request], Awaitable[Response]]]) -> Route:
    async def endpoint(request: Request) -> Response:
        return await by_method[request.method](request)

    return Route(path, endpoint, methods=sorted(by_method))


def create_app(
    config: Config,
    engine: Engine,
    transport: Transport | None = None,
    clock: Clock | None = None,
    *,
    signups_per_ip: tuple[int, float] = SIGNUPS_PER_IP,
    admin: bool | None = None,
    subscriber_pages: bool = True,
) -> Starlette:
    """The app; ``transport`` defaults to the configured one (built on first mail).

    ``admin`` mounts the admin app at ``/admin/`` (default: ``[admin] enabled``); ``subscriber_pages``
    False serves the admin app alone, for a private listener (``outreach serve --admin-only``).
    """
    clock = clock or SystemClock()
    pages = Pages(config)
    state = WebState(
        config=config,
        engine=engine,
        clock=clock,
        pages=pages,
        mail=ConfirmationMail(config),
        signup_limiter=RateLimiter(*signups_per_ip, clock=clock),
        default_topics=subscribe.default_topics(config),
        _transport=transport,
    )
    webhook_routes, webhook_openapi = _webhooks(state)
    lists = choices_for(config)
    openapi = document(
        webhook_openapi,
        topics=[t.key for t in subscribe.site_topics(config)],
        roles=lists.roles.keys,
        languages=lists.languages.keys,
    )

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi)

    async def stylesheet(request: Request) -> Response:
        return Response(
            pages.render("site.css.j2"), media_type="text/css", headers={"Cache-Control": "max-age=3600"}
        )

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok", headers={"Cache-Control": "no-store"})

    async def to_admin(request: Request) -> Response:
        return RedirectResponse("/admin/", status_code=303)

    routes: list[BaseRoute] = [
        *subscribe.ROUTES,
        *leave.ROUTES,
        *preferences.ROUTES,
        *archive.ROUTES,
        *archive.language_routes(state.languages),
        *calendar.ROUTES,
        *clicks.ROUTES,
        *api.ROUTES,
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/static/site.css", stylesheet, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
    ]
    routes = (
        one_route_per_path([*routes, *webhook_routes])
        if subscriber_pages
        else [
            Route("/healthz", health, methods=["GET"]),
            Route("/", to_admin, methods=["GET"]),
        ]
    )
    admin_app = None
    if admin if admin is not None else (config.settings.admin.enabled or not subscriber_pages):
        admin_app = create_admin_app(config, engine, clock)
        routes.append(Mount("/admin", admin_app))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        # Keep what the router says (a 405's Allow header names the methods that do work).
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        if request.url.path.startswith("/api/"):
            title = STATUS_TITLES.get(status, ("Error", ""))[0]
            return JSONResponse({"errors": {"body": title}}, status, headers=headers)
        title, message = STATUS_TITLES.get(
            status, (N_("Something went wrong"), N_("Please try again later."))
        )
        return pages.message(
            status, title, message, link=("/", N_("Go to the sign-up page")), headers=headers
        )

    async def database_busy(request: Request, exc: Exception) -> Response:
        # A database locked past the busy timeout (or out of reach): a plain page, and try again soon.
        log.error("database error on %s %s: %s", request.method, redact_path(request.url.path), exc)
        headers = {"Retry-After": "30", "Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY"}
        if request.url.path.startswith("/api/"):
            return JSONResponse({"errors": {"body": "busy; try again shortly"}}, 503, headers=headers)
        return pages.message(
            503,
            N_("We are busy for a moment"),
            N_("Nothing went wrong on your side. Please try again in a minute."),
            headers={**headers, **dict(COMMON)},
        )

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s", request.method, redact_path(request.url.path), exc_info=exc)
        # This answer is made outside the other middleware, so it carries the headers itself.
        response = pages.message(
            500,
            N_("Something went wrong on our side"),
            N_("We are sorry. Please try again in a little while."),
            headers={"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY", **dict(COMMON)},
        )
        return response

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if config.settings.web.mail_worker and subscriber_pages:  # else `outreach worker` sends them
            state.worker.start()
        try:
            yield
        finally:
            if admin_app is not None:  # campaigns sent from the admin app: chunks in flight recorded
                stop_background_sends(admin_app)
            state.close()

    def error_body(path: str, status: int, message: str) -> tuple[str, bytes]:
        """A refused body's answer in the form its route speaks (see ``outreach.web.guard``)."""
        if path.startswith("/api/"):
            return JSON, json.dumps({"errors": {"body": message}}).encode()
        if path.startswith(WEBHOOK_PREFIX):
            return JSON, json.dumps({"error": message}).encode()
        title = N_("Too much") if status == 413 else N_("Something went wrong")
        return HTML, pages.message_bytes(status, title, message)

    def refusal() -> bytes:
        return pages.message_bytes(403, N_("Please try again"), FROM_ELSEWHERE)

    https = config.base_url.startswith("https://")
    middleware = [
        # Outermost: every page made while answering, refusals by the middleware below included,
        # is in the request's language.
        Middleware(LanguageChoice, languages=state.languages, https=https),
        Middleware(SecurityHeaders, https=https),
    ]
    proxies = config.settings.web.trusted_proxies
    if proxies:  # X-Forwarded-For names the client only when a proxy we trust wrote it
        middleware.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=list(proxies)))
    middleware += [
        Middleware(RequestGuard, error_body=error_body, limit=MAX_BODY),
        Middleware(SameOrigin, base_url=config.base_url, refusal_page=refusal),
    ]
    app = Starlette(
        debug=False,
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, DatabaseError: database_busy, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.web = state
    return app
