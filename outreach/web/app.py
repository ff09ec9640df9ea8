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
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from outreach.clock import Clock, SystemClock
from outreach.config import Config
from outreach.transports.base import Transport
from outreach.web import api, archive, clicks, leave, preferences, subscribe
from outreach.web.confirm_mail import ConfirmationMail
from outreach.web.openapi import document
from outreach.web.pages import Pages
from outreach.web.ratelimit import RateLimiter
from outreach.web.security import COMMON, MAX_BODY, PAGE_CSP, BodyLimit, SecurityHeaders
from outreach.web.state import MAILS_PER_ADDRESS, SIGNUPS_PER_IP, WebState

log = logging.getLogger("outreach.web")
WEBHOOKS = "outreach.web.webhooks"

STATUS_TITLES = {
    400: ("Something went wrong", "We could not read that request."),
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too much", "That was more than this page accepts."),
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


def create_app(
    config: Config,
    engine: Engine,
    transport: Transport | None = None,
    clock: Clock | None = None,
    *,
    signups_per_ip: tuple[int, float] = SIGNUPS_PER_IP,
) -> Starlette:
    """The app; ``transport`` defaults to the configured one (built on first mail)."""
    clock = clock or SystemClock()
    pages = Pages(config)
    state = WebState(
        config=config,
        engine=engine,
        clock=clock,
        pages=pages,
        mail=ConfirmationMail(config),
        signup_limiter=RateLimiter(*signups_per_ip, clock=clock),
        mail_limiter=RateLimiter(*MAILS_PER_ADDRESS, clock=clock),
        _transport=transport,
    )
    webhook_routes, webhook_openapi = _webhooks(state)
    openapi = document(webhook_openapi)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi)

    async def stylesheet(request: Request) -> Response:
        return Response(
            pages.render("site.css.j2"), media_type="text/css", headers={"Cache-Control": "max-age=3600"}
        )

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok", headers={"Cache-Control": "no-store"})

    routes: list[BaseRoute] = [
        *subscribe.ROUTES,
        *leave.ROUTES,
        *preferences.ROUTES,
        *archive.ROUTES,
        *clicks.ROUTES,
        *api.ROUTES,
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/static/site.css", stylesheet, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
    ]
    routes.extend(webhook_routes)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if request.url.path.startswith("/api/"):
            return JSONResponse({"errors": {"body": STATUS_TITLES.get(status, ("Error", ""))[0]}}, status)
        title, message = STATUS_TITLES.get(status, ("Something went wrong", "Please try again later."))
        return pages.message(status, title, message, link=("/", "Go to the sign-up page"))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        # This answer is made outside the other middleware, so it carries the headers itself.
        response = pages.message(
            500,
            "Something went wrong on our side",
            "We are sorry. Please try again in a little while.",
            headers={"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY", **dict(COMMON)},
        )
        return response

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.close()

    app = Starlette(
        debug=False,
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, https=config.base_url.startswith("https://")),
            Middleware(BodyLimit, error_page=pages.message_bytes, limit=MAX_BODY),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.web = state
    return app
