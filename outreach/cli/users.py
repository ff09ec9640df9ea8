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
from outreach.accounts.users import add_user, list_users, remove_user, reset_password, set_role
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
