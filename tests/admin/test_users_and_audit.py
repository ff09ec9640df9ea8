"""`outreach users ...` and `outreach audit`: the same library calls as the admin app, audited, with
the last admin protected, weak passwords refused and the audit log append-only on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from typer.testing import CliRunner

from outreach.accounts.schema import Role
from outreach.audience import transaction
from outreach.audience.audit import AuditEntry, entries, record
from outreach.cli import app
from outreach.clock import FixedClock
from outreach.models import Actor
from tests.admin.conftest import PASSWORD, USERS, csrf_of, sign_in
from tests.conftest import TEST_SECRET

runner = CliRunner()


def cli(project: Path, database_url: str, *args: str, password: str | None = None) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [*args, "--root", str(project)],
        input=f"{password}\n" if password is not None else None,
        env={"OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_DATABASE_URL": database_url, "COLUMNS": "200"},
    )
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_users_commands_manage_accounts_and_every_change_is_audited(project: Path, database_url: str) -> None:
    code, out = cli(
        project, database_url, "users", "add", "maria@vaimh.example", "--role", "editor", password=PASSWORD
    )
    assert code == 0 and "added maria@vaimh.example as editor" in out
    code, out = cli(
        project,
        database_url,
        "users",
        "add",
        "weak@vaimh.example",
        "--role",
        "viewer",
        password="password1234",
    )
    assert code == 2 and "too weak" in out
    code, out = cli(project, database_url, "users", "list", "--json")
    assert [u["email"] for u in json.loads(out)] == ["maria@vaimh.example"]
    assert cli(project, database_url, "users", "set-role", "maria@vaimh.example", "--role", "admin")[0] == 0
    code, out = cli(project, database_url, "users", "remove", "maria@vaimh.example")
    assert code == 2 and "only admin" in out
    code, out = cli(
        project,
        database_url,
        "users",
        "reset-password",
        "maria@vaimh.example",
        password="a second quiet harbour",
    )
    assert code == 0 and "signed out everywhere" in out
    code, out = cli(project, database_url, "audit", "--json")
    log = json.loads(out)
    assert [e["action"] for e in log] == ["user.password", "user.role", "user.add"]
    assert all(e["via"] == "cli" and "@" in e["actor"] and e["origin"] for e in log)
    assert log[1]["detail"] == {"from": "editor", "to": "admin"}
    assert "a second quiet harbour" not in out and PASSWORD not in out


def test_changes_in_the_app_are_audited_with_who_and_from_where(client: TestClient, engine: Engine) -> None:
    sign_in(client, USERS[Role.ADMIN])
    csrf = csrf_of(client.get("/admin/users").text)
    client.post("/admin/users/role", data={"csrf": csrf, "email": USERS[Role.VIEWER], "role": "editor"})
    page = client.get("/admin/audit")
    assert "user.role" in page.text and USERS[Role.ADMIN] in page.text
    with transaction(engine) as session:
        newest = entries(session, limit=1)[0]
    assert (newest.action, newest.actor, newest.via) == ("user.role", USERS[Role.ADMIN], "admin")
    assert newest.origin == "testclient"


def test_the_audit_log_cannot_be_changed_or_deleted(engine: Engine, clock: FixedClock) -> None:
    with transaction(engine) as session:
        record(session, Actor("maria@laptop", "cli", "laptop"), "segment.save", "segment clinicians", clock)
    for statement in (sa.update(AuditEntry).values(actor="someone else"), sa.delete(AuditEntry)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), transaction(engine) as session:
            session.execute(statement)
    with transaction(engine) as session:
        assert [e.actor for e in entries(session)] == ["maria@laptop"]
