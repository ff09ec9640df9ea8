"""The audience commands end to end, through the real entry point, on a project in a temp folder."""

from __future__ import annotations

import codecs
import json
import shutil
from pathlib import Path

import pytest
import typer
from click.testing import Result
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
    assert "the database schema is behind; run `outreach db upgrade`" in result.output


def test_bad_segment_rule_names_file_and_line(project: Path) -> None:
    (project / "lists" / "segments.yaml").write_text(
        "x:\n  rule:\n    role: {startswith: a}\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["segments", "list"])
    assert "lists/segments.yaml:3: unknown operator 'startswith'" in result.output


def test_every_audience_command_has_an_example() -> None:
    probe = typer.Typer()
    register(probe)
    for group in probe.registered_groups:
        assert group.typer_instance is not None
        for command in group.typer_instance.registered_commands:
            assert command.callback is not None
            assert "Example:" in (command.callback.__doc__ or ""), command.name


def _result(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_segments_show_prints_the_rule_as_written_and_json_for_machines(project: Path) -> None:
    out = run("segments", "show", "clinicians-hampton-roads")
    assert "AllOf" not in out and "FieldCondition" not in out
    assert "lists/segments.yaml:7" in out
    assert "  all:\n    - role: {in: [mental-health-clinician, pediatric-clinician]}\n" in out
    assert "    - region: Hampton Roads\n    - topic: monthly-newsletter\n" in out
    assert "role is one of Mental-health clinician or therapist, Pediatric or healthcare provider" in out
    data = json.loads(run("segments", "show", "endorsement-renewal-due", "--json"))
    assert data["rule"] == {
        "all": [{"tag": "endorsed"}, {"attributes.renewal_date": {"between": ["today", "today+60d"]}}]
    }
    assert (data["file"], data["line"]) == ("lists/segments.yaml", 24)
    assert json.loads(run("segments", "show", "all", "--json"))["rule"] is None


def test_engagement_segments_count_from_the_command_line(project: Path, database_url: str) -> None:
    run("db", "upgrade")
    run("lists", "add", "ana@example.org", "--consent", "phone call")
    (project / "lists" / "segments.yaml").write_text(
        "read-march:\n  rule:\n    clicked: 2026-03-spring\n", encoding="utf-8"
    )
    from outreach.audience.db import make_engine, transaction
    from outreach.clock import SystemClock

    from .ledger import sent_campaign

    engine = make_engine(database_url)
    with transaction(engine) as session:
        sent_campaign(session, SystemClock(), "2026-03-spring", sent=[1], clicked=[1])
    engine.dispose()
    assert json.loads(run("segments", "count", "read-march", "--json"))["matching"] == 1


def test_gdpr_export_holds_deliveries_clicks_and_provider_events(project: Path, database_url: str) -> None:
    run("db", "upgrade")
    run("lists", "add", "ana@example.org", "--consent", "phone call", "--first-name", "Ana")
    from outreach.audience.db import make_engine, transaction
    from outreach.clock import SystemClock

    from .ledger import sent_campaign

    engine = make_engine(database_url)
    with transaction(engine) as session:
        sent_campaign(session, SystemClock(), "2026-03-spring", sent=[1], clicked=[1])
        sent_campaign(session, SystemClock(), "2026-04-april", failed=[1])
    engine.dispose()
    person = json.loads(run("lists", "gdpr-export", "ana@example.org"))
    assert [(d["campaign"]["issue"], d["state"]) for d in person["deliveries"]] == [
        ("2026-03-spring", "sent"),
        ("2026-04-april", "failed"),
    ]
    assert person["deliveries"][1]["reason"] == "550 5.1.1 no such mailbox"
    assert person["deliveries"][0]["message_id"].endswith("@vaimh.example>")
    assert [c["link"] for c in person["clicks"]] == ["https://vaimh.example/trainings"]
    assert person["events"][0]["provider"] == "sendgrid" and person["events"][0]["raw"]["event"] == "click"


def test_erasing_an_address_never_known_says_so_and_exits_1(project: Path) -> None:
    run("db", "upgrade")
    result = _result("lists", "erase", "nobody@example.org", "--yes")
    assert result.exit_code == 1
    assert "nothing is held about nobody@example.org; nothing was erased" in result.output
    assert "erased;" not in result.output
    assert "nobody" not in run("suppress", "list") and "(erased)" not in run("suppress", "list")
    run("lists", "add", "ana@example.org", "--consent", "phone call")
    assert "erased; suppression hash" in run("lists", "erase", "ana@example.org", "--yes")
    assert "erased; suppression hash" in run("lists", "erase", "ana@example.org", "--yes")  # idempotent


def test_lists_export_excel_option_and_formula_cells(project: Path) -> None:
    run("db", "upgrade")
    run(
        "lists",
        "add",
        "renee@example.org",
        "--consent",
        "call",
        "--first-name",
        "Renée",
        "--last-name",
        "=1+1",
    )
    plain = project / "plain.csv"
    excel = project / "excel.csv"
    run("lists", "export", "-o", str(plain))
    run("lists", "export", "-o", str(excel), "--excel")
    assert plain.read_bytes().startswith(b"email,first_name")
    assert excel.read_bytes().startswith(codecs.BOM_UTF8 + b"email,first_name")
    assert "Renée,'=1+1" in excel.read_text(encoding="utf-8-sig")


def test_lists_add_takes_role_and_language_from_the_lists_and_cleans_names(project: Path) -> None:
    run("db", "upgrade")
    run(
        "lists",
        "add",
        "ana@example.org",
        "--consent",
        "call",
        "--role",
        "Home visitor",
        "--language",
        "Spanish",
        "--first-name",
        "Ana\r\nBcc: x@evil.example",
    )
    shown = run("lists", "show", "ana@example.org")
    assert "home-visitor" in shown and "Ana  Bcc: x@evil.example" in shown
    result = _result("lists", "add", "ben@example.org", "--consent", "call", "--role", "astronaut")
    assert result.exit_code != 0 and "--role: unknown role 'astronaut'; valid:" in result.output


def test_an_alias_bomb_in_segments_yaml_is_refused_at_its_line(project: Path) -> None:
    # 30 levels of ten aliases each: walking it would take longer than anyone waits.
    lines = ["bomb:", "  rule:", "    any:", "      - &a0 {region: x}"]
    lines += [f"      - &a{i} {{any: [{', '.join([f'*a{i - 1}'] * 10)}]}}" for i in range(1, 31)]
    (project / "lists" / "segments.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _result("segments", "list")
    assert "lists/segments.yaml:5: this YAML uses an alias ('*name')" in result.output
