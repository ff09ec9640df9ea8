"""The audience commands end to end, through the real entry point, on a project in a temp folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from outreach.cli import app
from outreach.cli.audience import register

from .conftest import LISTS, ROOT

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(ROOT / "outreach.toml", tmp_path / "outreach.toml")
    shutil.copytree(LISTS, tmp_path / "lists")
    monkeypatch.setenv("OUTREACH_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_import_count_export_suppress_gdpr_erase(project: Path) -> None:
    run("db", "upgrade")
    out = run("lists", "import", "lists/examples/members.csv", "--dry-run")
    assert "would import" in out and "300" in out
    assert "300" in run("lists", "import", "lists/examples/members.csv")
    counted = json.loads(run("segments", "count", "clinicians-hampton-roads", "--json"))
    assert counted["matching"] >= 1 and len(counted["sample"]) <= 5
    email = counted["sample"][0]["email"]
    exported = run("lists", "export", "--segment", "clinicians-hampton-roads")
    assert exported.splitlines()[0].startswith("email,first_name")
    assert len(exported.splitlines()) == counted["mailable"] + 1
    run("suppress", "add", email, "--note", "asked by phone")
    assert email in run("suppress", "list")
    after = json.loads(run("segments", "count", "clinicians-hampton-roads", "--json"))
    assert after["mailable"] == counted["mailable"] - 1
    person = json.loads(run("lists", "gdpr-export", email))
    assert person["subscriber"]["email"] == email and person["consent_log"]
    run("lists", "erase", email, "--yes")
    assert "(erased)" in run("suppress", "list")
    again = run("lists", "import", "lists/examples/members.csv")
    assert "kept out" in again


def test_schema_behind_is_one_clear_line(project: Path) -> None:
    import os

    from sqlalchemy import create_engine, text

    engine = create_engine(os.environ["OUTREACH_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
    result = runner.invoke(app, ["segments", "count", "all"])
    assert result.exit_code != 0
    assert "the database schema is behind; run `outreach db upgrade`" in str(result.exception)


def test_bad_segment_rule_names_file_and_line(project: Path) -> None:
    (project / "lists" / "segments.yaml").write_text(
        "x:\n  rule:\n    role: {startswith: a}\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["segments", "list"])
    assert "lists/segments.yaml:3: unknown operator 'startswith'" in str(result.exception)


def test_every_audience_command_has_an_example() -> None:
    probe = typer.Typer()
    register(probe)
    for group in probe.registered_groups:
        assert group.typer_instance is not None
        for command in group.typer_instance.registered_commands:
            assert command.callback is not None
            assert "Example:" in (command.callback.__doc__ or ""), command.name
