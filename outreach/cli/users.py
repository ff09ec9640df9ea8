"""``outreach users ...`` and ``outreach audit``: staff accounts and the audit log from a terminal."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from outreach.accounts import Role
from outreach.accounts.tokens import create_token, revoke, tokens_of
from outreach.accounts.users import add_user, get_user, list_users, remove_user, reset_password, set_role
from outreach.audience import transaction
from outreach.audience.audit import entries
from outreach.cli.common import RootOption, cli_actor, config_for, console
from outreach.clock import SystemClock
from outreach.delivery.wiring import database

users_app = typer.Typer(
    help="The people who use the admin app, and their roles (viewer, editor, admin).\n\n"
    "Example: outreach users add maria@vaimh.example --role editor",
    no_args_is_help=True,
)

RoleOption = typer.Option(..., "--role", help="viewer (reads), editor (prepares, never sends) or admin.")


def _password(prompt: str) -> str:
    """From standard input when it is not a terminal (scripts), else asked twice, not echoed."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def add(email: str, role: Role = RoleOption, root: Path | None = RootOption) -> None:
    """Add a user; the password is read from standard input, or asked for twice.

    Example: echo 'a long passphrase of words' | outreach users add maria@vaimh.example --role editor
    """
    config = config_for(root)
    password = _password("Password")
    with transaction(database(config)) as session:
        user = add_user(session, email, role, password, cli_actor(), SystemClock())
        console.print(f"added {user.email} as {user.role}", markup=False)


@users_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json"), root: Path | None = RootOption) -> None:
    """The users, their roles and when they last signed in.

    Example: outreach users list
    """
    config = config_for(root)
    zone = config.time_zone
    with transaction(database(config)) as session:
        rows = [(u.email, str(u.role), bool(u.totp_secret), u.last_login_at) for u in list_users(session)]
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {"email": e, "role": r, "second_factor": t, "last_sign_in": s.isoformat() if s else None}
                    for e, r, t, s in rows
                ],
                indent=2,
            )
        )
        return
    table = Table("email", "role", "second factor", "last sign-in")
    for email, role, two, seen in rows:
        table.add_row(escape(email), role, "yes" if two else "no", _when(seen, zone))
    console.print(table)


@users_app.command("set-role")
def set_role_cmd(email: str, role: Role = RoleOption, root: Path | None = RootOption) -> None:
    """Change a user's role; it takes effect on their next click.

    Example: outreach users set-role maria@vaimh.example --role admin
    """
    config = config_for(root)
    with transaction(database(config)) as session:
        user = set_role(session, email, role, cli_actor(), SystemClock())
        console.print(f"{user.email} is now {user.role}", markup=False)


@users_app.command("reset-password")
def reset_password_cmd(email: str, root: Path | None = RootOption) -> None:
    """Set a new password; every session of the user ends.

    Example: outreach users reset-password maria@vaimh.example
    """
    config = config_for(root)
    password = _password("New password")
    with transaction(database(config)) as session:
        user = reset_password(session, email, password, cli_actor(), SystemClock())
        console.print(f"new password set for {user.email}; they are signed out everywhere", markup=False)


@users_app.command("remove")
def remove_cmd(email: str, root: Path | None = RootOption) -> None:
    """Remove a user (never the last admin).

    Example: outreach users remove maria@vaimh.example
    """
    config = config_for(root)
    with transaction(database(config)) as session:
        remove_user(session, email, cli_actor(), SystemClock())
    console.print(f"removed {email}", markup=False)


tokens_app = typer.Typer(
    help="Personal API tokens for /admin/api/: each acts as its user, with at most the role given.\n\n"
    "Example: outreach users token create ada@vaimh.example --name reports-script --role viewer",
    no_args_is_help=True,
)


@tokens_app.command("create")
def token_create(
    email: str,
    name: str = typer.Option(..., "--name", help="What the token is for, to recognise it later."),
    role: Role = typer.Option(
        Role.VIEWER, "--role", help="viewer, editor or admin; never more than the user's own role."
    ),
    root: Path | None = RootOption,
) -> None:
    """Make a token and print it once: keep it in a password manager or a secret store.

    Example: outreach users token create ada@vaimh.example --name reports-script --role viewer
    """
    config = config_for(root)
    with transaction(database(config)) as session:
        user = get_user(session, email)
        token, plain = create_token(session, user, name, role, cli_actor(), SystemClock())
        token_id, token_role = token.id, token.role
    console.print(
        f"token {token_id} for {email} ({token_role}); it is shown only now:", markup=False, highlight=False
    )
    typer.echo(plain)


@tokens_app.command("list")
def token_list(
    email: str, as_json: bool = typer.Option(False, "--json"), root: Path | None = RootOption
) -> None:
    """A user's tokens (never the tokens themselves: only their names, roles and use).

    Example: outreach users token list ada@vaimh.example
    """
    config = config_for(root)
    zone = config.time_zone
    with transaction(database(config)) as session:
        rows = [
            (t.id, t.name, str(t.role), t.created_at, t.last_used_at)
            for t in tokens_of(session, get_user(session, email))
        ]
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": i,
                        "name": n,
                        "role": r,
                        "created": c.isoformat(),
                        "last_used": u.isoformat() if u else None,
                    }
                    for i, n, r, c, u in rows
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    table = Table("id", "name", "role", "made", "last used")
    for i, n, r, c, u in rows:
        table.add_row(str(i), escape(n), r, _when(c, zone), _when(u, zone))
    console.print(table)


@tokens_app.command("revoke")
def token_revoke(email: str, token_id: int, root: Path | None = RootOption) -> None:
    """Revoke one of a user's tokens (its id is in ``outreach users token list``); it stops working at once.

    Example: outreach users token revoke ada@vaimh.example 3
    """
    config = config_for(root)
    with transaction(database(config)) as session:
        revoke(session, get_user(session, email), token_id, cli_actor(), SystemClock())
    console.print(f"revoked token {token_id} of {email}", markup=False)


users_app.add_typer(tokens_app, name="token")


def audit(
    since: datetime | None = typer.Option(
        None,
        "--since",
        help="Only entries at or after this time (2026-12-01 or 2026-12-01T09:00).",
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    ),
    limit: int = typer.Option(200, "--limit", min=1, max=100_000),
    as_json: bool = typer.Option(False, "--json"),
    root: Path | None = RootOption,
) -> None:
    """Who changed what, when, through what and from where (newest first).

    Example: outreach audit --since 2026-12-01 --json
    """
    config = config_for(root)
    zone = config.time_zone
    start = since.replace(tzinfo=zone) if since is not None and since.tzinfo is None else since
    with transaction(database(config)) as session:
        found = entries(session, since=start, limit=limit)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": e.id,
                        "at": e.at.isoformat(),
                        "actor": e.actor,
                        "via": e.via,
                        "origin": e.origin,
                        "action": e.action,
                        "target": e.target,
                        "detail": e.detail,
                    }
                    for e in found
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    table = Table("when", "who", "via", "from", "what", "target", "detail")
    for e in found:
        detail = ", ".join(f"{k}={v}" for k, v in e.detail.items())
        table.add_row(
            _when(e.at, zone),
            escape(e.actor),
            e.via,
            escape(e.origin),
            e.action,
            escape(e.target),
            escape(detail),
        )
    console.print(table)


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "never"
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.command("audit")(audit)
