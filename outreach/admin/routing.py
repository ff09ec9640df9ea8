"""Every admin route declares the role it needs; this module enforces it, and CSRF, in one place.

``admin_route(path, handler, role)`` wraps a plain synchronous handler (run in the thread pool, so
database work never blocks the event loop). Before the handler runs: the request's user is found from
the session cookie (browsers) or a bearer token (``/admin/api/``); a route above the user's role
answers 403, an anonymous request goes to the sign-in page (401 for the API); a state-changing request
from a browser must carry the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``)
and, when the browser sends one, an ``Origin`` of this site. ``role=None`` marks the few public routes
(signing in); tests enumerate the routes and fail on any route that declares nothing.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from outreach.accounts import sessions
from outreach.accounts.schema import Role
from outreach.accounts.tokens import authenticate
from outreach.admin.state import AdminState, Signed, state_of
from outreach.audience import transaction

SESSION_COOKIE = "outreach_admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIX = "/api/"
MAX_FIELDS = 2000
MAX_FILES = 2
MAX_JSON = 1024 * 1024

Handler = Callable[[Request], Response]


def admin_route(
    path: str,
    handler: Handler,
    role: Role | None,
    methods: tuple[str, ...] = ("GET",),
    name: str | None = None,
) -> Route:
    """A route that runs ``handler`` only for a user with at least ``role`` (None: anyone)."""

    async def endpoint(request: Request) -> Response:
        request.state.form = None
        request.state.json = None
        if request.method not in SAFE_METHODS:
            problem = await _read_body(request)
            if problem is not None:
                return problem
        return await run_in_threadpool(_guarded, request, handler, role)

    endpoint.required_role = role  # type: ignore[attr-defined]
    endpoint.__name__ = handler.__name__
    return Route(path, endpoint, methods=list(methods), name=name or handler.__name__)


async def _read_body(request: Request) -> Response | None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
            request.state.form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
        elif kind == "application/json":
            body = await request.body()
            if len(body) > MAX_JSON:
                return _refuse(request, 413, "That request is too large.")
            request.state.json = json.loads(body, parse_constant=_no_constant) if body else None
    except (ValueError, RecursionError, UnicodeDecodeError):
        return _refuse(request, 400, "That request could not be read.")
    except Exception as err:  # starlette's MultiPartException and its kin: malformed bodies
        if type(err).__name__.endswith("Exception") and "multipart" in type(err).__module__:
            return _refuse(request, 400, "That form could not be read.")
        raise
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _guarded(request: Request, handler: Handler, role: Role | None) -> Response:
    state = state_of(request)
    with transaction(state.engine) as session:
        signed = find_signed(request, session, state)
    request.state.signed = signed
    if role is not None:
        if signed is None:
            return _anonymous(request)
        if not signed.role.allows(role):
            return _refuse(request, 403, f"This needs the {role} role; you are {signed.role}.")
    # Public routes (signing in) check their own double-submit token: there may be no session yet.
    if (
        role is not None
        and request.method not in SAFE_METHODS
        and signed is not None
        and signed.via == "admin"
    ):
        refused = _check_csrf(request, signed)
        if refused is not None:
            return refused
    return handler(request)


def find_signed(request: Request, session: Session, state: AdminState) -> Signed | None:
    """The user behind the request's bearer token (API) or its session cookie (only once fully signed in)."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        found = authenticate(session, authorization[7:].strip(), state.clock)
        return Signed(found.user, found.role, "", "api") if found else None
    current = sessions.current(session, request.cookies.get(SESSION_COOKIE), state.clock, state.expiry)
    if current is None or not current.verified:
        return None
    return Signed(current.user, current.user.role, current.csrf, "admin")


def _check_csrf(request: Request, signed: Signed) -> Response | None:
    form: FormData | None = request.state.form
    given = request.headers.get("x-csrf-token") or (str(form.get("csrf") or "") if form else "")
    if not given or not hmac.compare_digest(given, signed.csrf):
        return _refuse(request, 403, "This form has expired. Reload the page and try again.")
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") not in _own_origins(request):
        return _refuse(request, 403, "This form was sent from another site.")
    return None


def _own_origins(request: Request) -> set[str]:
    """The site's public address and the address this request came to (a private admin listener)."""
    found = set()
    for url in (state_of(request).config.base_url, str(request.base_url)):
        parts = urlsplit(url)
        found.add(f"{parts.scheme}://{parts.netloc}")
    return found


def _anonymous(request: Request) -> Response:
    if _is_api(request):
        return JSONResponse(
            {"error": "sign in: send 'Authorization: Bearer TOKEN'"}, 401, headers=_no_store()
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{prefix(request)}/login?next={quote(target)}", status_code=303)


def _refuse(request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        return JSONResponse({"error": message}, status, headers=_no_store())
    state = state_of(request)
    title = {400: "Something went wrong", 403: "Not allowed", 413: "Too much"}.get(status, "Not allowed")
    return state.render(request, "message.html.j2", status=status, title=title, message=message)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(prefix(request) + API_PREFIX)


def prefix(request: Request) -> str:
    """Where the admin app is mounted (``/admin`` under ``outreach serve``)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _no_store() -> dict[str, str]:
    return {"Cache-Control": "no-store"}


def safe_next(request: Request, wanted: str | None) -> str:
    """Where to go after signing in: a path inside the admin app, never another site."""
    home = prefix(request) + "/"
    if not wanted or not wanted.startswith(home) or wanted.startswith("//") or "\\" in wanted:
        return home
    return wanted
