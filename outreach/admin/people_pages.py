"""Users and the audit log, for admins: the library calls of ``outreach users`` and ``outreach audit``."""

from __future__ import annotations

from datetime import datetime, time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from outreach.accounts.schema import ROLE_ORDER, Role
from outreach.accounts.users import add_user, list_users, remove_user, reset_password, set_role
from outreach.admin.routing import admin_route, prefix
from outreach.admin.state import actor_of, signed_of, state_of
from outreach.audience import transaction
from outreach.audience.audit import entries
from outreach.errors import AccountError

PAGE = 100


def _field(request: Request, name: str) -> str:
    form = request.state.form
    return str(form.get(name) or "") if form else ""


def users(request: Request, problem: str = "", status: int = 200) -> Response:
    state = state_of(request)
    with transaction(state.engine) as session:
        rows = [(u.email, u.role, bool(u.totp_secret), u.last_login_at) for u in list_users(session)]
    return state.render(
        request,
        "users.html.j2",
        status=status,
        users=rows,
        roles=ROLE_ORDER,
        problem=problem,
        zone=state.config.time_zone,
    )


def _change(request: Request, done: str, change: str) -> Response:
    state = state_of(request)
    actor = actor_of(request)
    email = _field(request, "email")
    try:
        with transaction(state.engine) as session:
            if change == "add":
                add_user(
                    session,
                    email,
                    Role(_field(request, "role")),
                    _field(request, "password"),
                    actor,
                    state.clock,
                )
            elif change == "role":
                set_role(session, email, Role(_field(request, "role")), actor, state.clock)
            elif change == "password":
                reset_password(session, email, _field(request, "password"), actor, state.clock)
            elif change == "remove":
                if email == signed_of(request).user.email:
                    raise AccountError("you cannot remove yourself; ask another admin")
                if _field(request, "confirm") != email:
                    raise AccountError(f"type {email} in the box to confirm removing them")
                remove_user(session, email, actor, state.clock)
    except (ValueError, AccountError) as err:
        return users(request, problem=str(err), status=400)
    return RedirectResponse(f"{prefix(request)}/users?done={done}", status_code=303)


def add(request: Request) -> Response:
    return _change(request, "user-added", "add")


def change_role(request: Request) -> Response:
    return _change(request, "role-changed", "role")


def new_password(request: Request) -> Response:
    return _change(request, "password-set", "password")


def remove(request: Request) -> Response:
    return _change(request, "user-removed", "remove")


def audit(request: Request) -> Response:
    state = state_of(request)
    zone = state.config.time_zone
    since_text = request.query_params.get("since", "")
    before = request.query_params.get("before", "")
    since = None
    problem = ""
    if since_text:
        try:
            since = datetime.combine(datetime.strptime(since_text, "%Y-%m-%d").date(), time(), zone)
        except ValueError:
            problem = "Write the date as YYYY-MM-DD, for example 2026-12-01."
    with transaction(state.engine) as session:
        found = entries(
            session, since=since, limit=PAGE + 1, before_id=int(before) if before.isdigit() else None
        )
    more = found[PAGE].id + 1 if len(found) > PAGE else None
    return state.render(
        request,
        "audit.html.j2",
        entries=found[:PAGE],
        more=more,
        since=since_text,
        problem=problem,
        zone=zone,
    )


ROUTES = [
    admin_route("/users", users, Role.ADMIN),
    admin_route("/users/add", add, Role.ADMIN, methods=("POST",)),
    admin_route("/users/role", change_role, Role.ADMIN, methods=("POST",)),
    admin_route("/users/password", new_password, Role.ADMIN, methods=("POST",)),
    admin_route("/users/remove", remove, Role.ADMIN, methods=("POST",)),
    admin_route("/audit", audit, Role.ADMIN),
]

SECTIONS = [("/users", "Users", Role.ADMIN), ("/audit", "Audit log", Role.ADMIN)]
