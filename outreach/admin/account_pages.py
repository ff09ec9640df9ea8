"""Your own account: password, second factor, sessions, API tokens; and signing out.

Changing the password signs out every other session (they were made before the change); "sign out
everywhere" ends them all, this one included. A new API token is shown once, on the page that made it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from outreach.accounts import sessions, totp
from outreach.accounts.passwords import verify_password
from outreach.accounts.schema import ROLE_ORDER, Role
from outreach.accounts.signin import remove_second_factor, set_up_second_factor
from outreach.accounts.tokens import create_token, revoke, tokens_of
from outreach.accounts.users import reset_password
from outreach.admin.routing import SESSION_COOKIE, admin_route, prefix
from outreach.admin.signin_pages import _set_session, logout, render_setup
from outreach.admin.state import actor_of, client_ip, signed_of, state_of
from outreach.audience import transaction
from outreach.errors import AccountError


def _field(request: Request, name: str) -> str:
    form = request.state.form
    return str(form.get(name) or "") if form else ""


def account(request: Request, problem: str = "", new_token: str = "", status: int = 200) -> Response:
    state = state_of(request)
    signed = signed_of(request)
    with transaction(state.engine) as session:
        tokens = [
            (t.id, t.name, str(t.role), t.created_at, t.last_used_at) for t in tokens_of(session, signed.user)
        ]
    roles = [r for r in ROLE_ORDER if signed.user.role.allows(r)]
    return state.render(
        request,
        "account.html.j2",
        status=status,
        user=signed.user,
        tokens=tokens,
        roles=roles,
        problem=problem,
        new_token=new_token,
        zone=state.config.time_zone,
    )


def change_password(request: Request) -> Response:
    state = state_of(request)
    signed = signed_of(request)
    if not verify_password(signed.user.password_hash, _field(request, "current")):
        return account(request, problem="Your current password is not right.", status=400)
    if _field(request, "new") != _field(request, "again"):
        return account(request, problem="The two new passwords differ; type them again.", status=400)
    try:
        with transaction(state.engine) as session:
            user = reset_password(
                session, signed.user.email, _field(request, "new"), actor_of(request), state.clock
            )
            token = sessions.start(session, user, state.clock, verified=True, ip=client_ip(request))
    except AccountError as err:
        return account(request, problem=str(err), status=400)
    response = RedirectResponse(f"{prefix(request)}/account?done=password", status_code=303)
    return _set_session(response, request, token)


def two_factor_page(request: Request) -> Response:
    return render_setup(
        request,
        state_of(request),
        signed_of(request).user.email,
        f"{prefix(request)}/account/2fa",
        required=False,
    )


def two_factor(request: Request) -> Response:
    state = state_of(request)
    signed = signed_of(request)
    secret = totp.unseal(_field(request, "sealed"), state.config.accepted_keys)
    try:
        with transaction(state.engine) as session:
            user = session.merge(signed.user)
            if secret is None:
                raise AccountError("the set-up expired; start again")
            set_up_second_factor(
                session,
                user,
                secret,
                _field(request, "code"),
                state.config.secret_key,
                actor_of(request),
                state.clock,
            )
    except AccountError as err:
        action = f"{prefix(request)}/account/2fa"
        return render_setup(
            request, state, signed.user.email, action, required=False, problem=str(err), status=400
        )
    return RedirectResponse(f"{prefix(request)}/account?done=2fa", status_code=303)


def two_factor_off(request: Request) -> Response:
    state = state_of(request)
    signed = signed_of(request)
    if state.config.settings.admin.require_2fa and signed.user.role is Role.ADMIN:
        return account(request, problem="This site requires a second factor for admins.", status=400)
    with transaction(state.engine) as session:
        remove_second_factor(session, session.merge(signed.user), actor_of(request), state.clock)
    return RedirectResponse(f"{prefix(request)}/account?done=2fa-off", status_code=303)


def sign_out_everywhere(request: Request) -> Response:
    state = state_of(request)
    with transaction(state.engine) as session:
        sessions.end_all(session, signed_of(request).user.id)
    response = RedirectResponse(f"{prefix(request)}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=prefix(request) or "/")
    return response


def new_token(request: Request) -> Response:
    state = state_of(request)
    signed = signed_of(request)
    try:
        role = Role(_field(request, "role") or str(signed.role))
        with transaction(state.engine) as session:
            _token, plain = create_token(
                session,
                session.merge(signed.user),
                _field(request, "name"),
                role,
                actor_of(request),
                state.clock,
            )
    except (ValueError, AccountError) as err:
        return account(request, problem=str(err), status=400)
    return account(request, new_token=plain)


def revoke_token(request: Request) -> Response:
    state = state_of(request)
    signed = signed_of(request)
    try:
        with transaction(state.engine) as session:
            revoke(
                session,
                session.merge(signed.user),
                int(_field(request, "token") or 0),
                actor_of(request),
                state.clock,
            )
    except (ValueError, AccountError) as err:
        return account(request, problem=str(err), status=400)
    return RedirectResponse(f"{prefix(request)}/account?done=token", status_code=303)


ROUTES = [
    admin_route("/account", account, Role.VIEWER),
    admin_route("/account/password", change_password, Role.VIEWER, methods=("POST",)),
    admin_route("/account/2fa", two_factor_page, Role.VIEWER),
    admin_route("/account/2fa", two_factor, Role.VIEWER, methods=("POST",), name="two_factor_post"),
    admin_route("/account/2fa/off", two_factor_off, Role.VIEWER, methods=("POST",)),
    admin_route("/account/sessions/end", sign_out_everywhere, Role.VIEWER, methods=("POST",)),
    admin_route("/account/tokens", new_token, Role.VIEWER, methods=("POST",)),
    admin_route("/account/tokens/revoke", revoke_token, Role.VIEWER, methods=("POST",)),
    admin_route("/logout", logout, Role.VIEWER, methods=("POST",)),
]
