"""Signing in and out of the admin app: password, second factor, forced set-up, sign out.

The pages are public (``role=None``); their forms are protected by a double-submit token (a random
value in a SameSite=Strict cookie and in the form) until there is a session to hold one. Answers
never say whether an address has an account.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from outreach.accounts import sessions, totp
from outreach.accounts.signin import Step, second_factor, set_up_second_factor, sign_in
from outreach.admin.routing import SESSION_COOKIE, admin_route, prefix, safe_next
from outreach.admin.state import AdminState, client_ip, state_of
from outreach.audience import transaction
from outreach.errors import AccountError
from outreach.models import Actor

PRE_COOKIE = "outreach_admin_pre"
REFUSED = "That email address and password do not match an account here."


def _pre_token(request: Request) -> str:
    token = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    request.state.pre_csrf = token
    return token


def _pre_ok(request: Request) -> bool:
    form = request.state.form
    cookie = request.cookies.get(PRE_COOKIE, "")
    given = str(form.get("csrf") or "") if form else ""
    return bool(cookie) and secrets.compare_digest(cookie, given)


def _set_pre(response: Response, request: Request, token: str) -> Response:
    state = state_of(request)
    response.set_cookie(
        PRE_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=state.secure_cookies,
        path=prefix(request) or "/",
    )
    return response


def _set_session(response: Response, request: Request, token: str) -> Response:
    state = state_of(request)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=state.secure_cookies,
        path=prefix(request) or "/",
        max_age=int(state.expiry.absolute.total_seconds()),
    )
    return response


def _minutes(wait: timedelta | None) -> int:
    return max(1, int(((wait or timedelta(minutes=1)).total_seconds() + 59) // 60))


def login_page(request: Request) -> Response:
    state = state_of(request)
    token = _pre_token(request)
    next_path = safe_next(request, request.query_params.get("next"))
    page = state.render(request, "login.html.j2", next=next_path, email="", problem="", csrf=token)
    return _set_pre(page, request, token)


def login(request: Request) -> Response:
    state = state_of(request)
    form = request.state.form
    token = _pre_token(request)
    email = str(form.get("email") or "").strip()[:320] if form else ""
    next_path = safe_next(request, str(form.get("next") or "") if form else "")

    def again(problem: str, status: int) -> Response:
        page = state.render(
            request, "login.html.j2", status=status, next=next_path, email=email, problem=problem
        )
        return _set_pre(page, request, token)

    if form is None or not _pre_ok(request):
        return again("This page had expired; please sign in again.", 400)
    password = str(form.get("password") or "")
    with transaction(state.engine) as session:
        result = sign_in(
            session,
            email,
            password,
            state.clock,
            state.policy,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    if result.step is Step.LOCKED:
        return again(f"Too many attempts. Please wait {_minutes(result.wait)} minutes, then try again.", 429)
    if result.step is Step.REFUSED:
        return again(REFUSED, 401)
    where = {Step.NEEDS_CODE: "/login/code", Step.NEEDS_SETUP: "/login/setup"}.get(result.step)
    target = f"{prefix(request)}{where}?next={quote(next_path)}" if where else next_path
    return _set_session(RedirectResponse(target, status_code=303), request, result.token)


def _half_signed(request: Request, state: AdminState) -> sessions.Current | None:
    with transaction(state.engine) as session:
        found = sessions.current(session, request.cookies.get(SESSION_COOKIE), state.clock, state.expiry)
    return found if found is not None and not found.verified else None


def code_page(request: Request) -> Response:
    state = state_of(request)
    found = _half_signed(request, state)
    if found is None or not found.user.totp_secret:
        return RedirectResponse(f"{prefix(request)}/login", status_code=303)
    request.state.pre_csrf = found.csrf
    next_path = safe_next(request, request.query_params.get("next"))
    return state.render(request, "code.html.j2", next=next_path, problem="")


def code(request: Request) -> Response:
    state = state_of(request)
    found = _half_signed(request, state)
    form = request.state.form
    if found is None or form is None or not secrets.compare_digest(str(form.get("csrf") or ""), found.csrf):
        return RedirectResponse(f"{prefix(request)}/login", status_code=303)
    request.state.pre_csrf = found.csrf
    next_path = safe_next(request, str(form.get("next") or ""))
    with transaction(state.engine) as session:
        result = second_factor(
            session,
            request.cookies.get(SESSION_COOKIE) or "",
            str(form.get("code") or ""),
            state.config.accepted_keys,
            state.clock,
            state.policy,
            state.expiry,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    if result.step is Step.SIGNED_IN:
        return _set_session(RedirectResponse(next_path, status_code=303), request, result.token)
    problem = (
        f"Too many attempts. Please wait {_minutes(result.wait)} minutes, then try again."
        if result.step is Step.LOCKED
        else "That code is not right. Codes change every 30 seconds: try the one shown now."
    )
    return state.render(request, "code.html.j2", status=401, next=next_path, problem=problem)


def setup_page(request: Request) -> Response:
    """The forced set-up of a second factor for an admin (``[admin] require_2fa``)."""
    state = state_of(request)
    found = _half_signed(request, state)
    if found is None or found.user.totp_secret:
        return RedirectResponse(f"{prefix(request)}/login", status_code=303)
    request.state.pre_csrf = found.csrf
    return render_setup(request, state, found.user.email, f"{prefix(request)}/login/setup", required=True)


def setup(request: Request) -> Response:
    state = state_of(request)
    found = _half_signed(request, state)
    form = request.state.form
    if found is None or form is None or not secrets.compare_digest(str(form.get("csrf") or ""), found.csrf):
        return RedirectResponse(f"{prefix(request)}/login", status_code=303)
    request.state.pre_csrf = found.csrf
    secret = totp.unseal(str(form.get("sealed") or ""), state.config.accepted_keys)
    actor = Actor(found.user.email, "admin", client_ip(request))
    try:
        with transaction(state.engine) as session:
            user = session.merge(found.user)
            if secret is None:
                raise AccountError("the set-up expired; start again")
            set_up_second_factor(
                session,
                user,
                secret,
                str(form.get("code") or ""),
                state.config.secret_key,
                actor,
                state.clock,
            )
            sessions.end(session, request.cookies.get(SESSION_COOKIE))
            token = sessions.start(session, user, state.clock, verified=True, ip=client_ip(request))
    except AccountError as err:
        action = f"{prefix(request)}/login/setup"
        return render_setup(
            request, state, found.user.email, action, required=True, problem=str(err), status=400
        )
    return _set_session(RedirectResponse(f"{prefix(request)}/", status_code=303), request, token)


def render_setup(
    request: Request,
    state: AdminState,
    email: str,
    action: str,
    *,
    required: bool,
    problem: str = "",
    status: int = 200,
) -> Response:
    """The set-up page for a new secret: its QR code, the key in groups, the secret sealed in the form."""
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, email, state.config.organisation.short_name)
    return state.render(
        request,
        "setup_2fa.html.j2",
        status=status,
        qr=totp.qr_svg(uri, "QR code for your authenticator app"),
        secret_shown=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        sealed=totp.seal(secret, state.config.secret_key),
        action=action,
        required=required,
        problem=problem,
    )


def logout(request: Request) -> Response:
    state = state_of(request)
    with transaction(state.engine) as session:
        sessions.end(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(f"{prefix(request)}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=prefix(request) or "/")
    return response


ROUTES = [
    admin_route("/login", login_page, None),
    admin_route("/login", login, None, methods=("POST",), name="login_post"),
    admin_route("/login/code", code_page, None),
    admin_route("/login/code", code, None, methods=("POST",), name="code_post"),
    admin_route("/login/setup", setup_page, None),
    admin_route("/login/setup", setup, None, methods=("POST",), name="setup_post"),
]
