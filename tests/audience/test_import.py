"""CSV imports: every file quirk, the merge policy, atomicity, idempotence, never re-subscribing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience.consent import Consent
from outreach.audience.csv_import import apply_plan
from outreach.audience.csv_read import read_table
from outreach.audience.db import transaction
from outreach.audience.import_plan import ExistingPolicy, ImportOptions, plan_import
from outreach.audience.schema import (
    ConsentEvent,
    ConsentMethod,
    Subscriber,
    SuppressionReason,
)
from outreach.audience.subscribers import find_by_email, stop_mailing
from outreach.audience.suppression import suppress
from outreach.audience.topics import TopicDefinition
from outreach.clock import FixedClock
from outreach.errors import ImportRejected

from .helpers import count, run_import, snapshot, write

Topics = tuple[TopicDefinition, ...]
ADMIN = Consent(ConsentMethod.ADMIN, source="test", actor="tester")


def emails(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(e for e in connection.execute(sa.select(Subscriber.email)).scalars() if e is not None)


QUIRKS = {
    "utf8": ("Email,First Name\nana@example.org,Ana\n", "utf-8"),
    "utf8-bom": ("\ufeffEmail,First Name\nana@example.org,Ana\n", "utf-8"),
    "cp1252": ("Email;First Name\nrenee@example.org;Renée\n", "cp1252"),
    "utf16": ("Email\tFirst Name\nana@example.org\tAna\n", "utf-16"),
    "semicolon": ("E-mail Address;Given Name\nana@example.org;Ana\n", "utf-8"),
    "tab": ("email\tfirstname\nana@example.org\tAna\n", "utf-8"),
    "quoted": ('"Email","First Name"\n"ana@example.org","Ana, ""Annie"""\n', "utf-8"),
    "multiline": ('Email,First Name,Notes\nana@example.org,Ana,"line one\nline two"\n', "utf-8"),
    "blank-lines": ("\nEmail,First Name\n\nana@example.org,Ana\n\n\n", "utf-8"),
    "crlf": ("Email,First Name\r\nana@example.org,Ana\r\n", "utf-8"),
}


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_each_file_quirk_imports(
    quirk: str, synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    text, encoding = QUIRKS[quirk]
    path = write(tmp_path / "in.csv", text, encoding)
    report = run_import(synced, path, topics, clock, consent="sheet")
    assert report.new == 1 and report.rejected == 0
    with transaction(synced) as session:
        person = find_by_email(session, emails(synced)[0])
        assert person is not None
        assert person.first_name in ("Ana", "Renée", 'Ana, "Annie"')


def test_cp1252_is_decoded_not_mangled(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    path = write(tmp_path / "in.csv", "Email;Name;Organisation\nzoe@example.org;Zoë Chen;“CSB”\n", "cp1252")
    report = run_import(synced, path, topics, clock, consent="sheet")
    assert report.encoding == "cp1252" and report.delimiter == ";"
    with transaction(synced) as session:
        person = find_by_email(session, "zoe@example.org")
        assert person is not None
        assert (person.first_name, person.last_name, person.organisation) == (
            "Zoë",
            "Chen",
            "“CSB”",
        )


def test_header_aliases_and_custom_attributes(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "in.csv",
        "E-mail Address,First Name,Surname,Organisation,Preferred Language,Renewal Date,Years\n"
        "ana@example.org,Ana,Reyes,CSB,Spanish,04/15/2026,12\n",
    )
    run_import(synced, path, topics, clock, consent="sheet")
    with transaction(synced) as session:
        person = find_by_email(session, "ana@example.org")
        assert person is not None
        assert (person.last_name, person.organisation, person.language) == ("Reyes", "CSB", "es")
        assert person.attributes == {"renewal_date": "2026-04-15", "years": "12"}
        assert sorted(t.topic_key for t in person.topics) == ["monthly-newsletter"]


def test_map_option_names_columns(synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "Contact,Who,Secret\nana@example.org,Ana,x\n")
    mapping = {"contact": "email", "who": "first_name", "secret": "ignore"}
    run_import(synced, path, topics, clock, consent="sheet", mapping=mapping)
    with transaction(synced) as session:
        person = find_by_email(session, "ana@example.org")
        assert person is not None and person.first_name == "Ana" and person.attributes == {}


def test_no_email_column_is_refused(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    path = write(tmp_path / "in.csv", "Name,Phone\nAna,1\n")
    with pytest.raises(ImportRejected, match="no email column"):
        run_import(synced, path, topics, clock, consent="sheet")


def test_consent_is_required(synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "Email\nana@example.org\n")
    with pytest.raises(ImportRejected, match="consent basis"):
        run_import(synced, path, topics, clock)
    path = write(tmp_path / "in2.csv", "Email,Consent\nana@example.org,Form\nbo@example.org,\n")
    report = run_import(synced, path, topics, clock)
    assert (report.new, report.rejected) == (1, 1)


def test_normalised_addresses_are_one_person_and_rejects_have_lines(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "in.csv",
        "Email,First Name,Topics\n"
        "Ana@Example.org,Ana,monthly-newsletter\n"
        "not-an-address,Sam,\n"
        "\n"
        " ana@example.ORG ,Ana María,Trainings and events\n"
        "bo@example.org,Bo,gardening\n"
        "José@Bücher.example,José,\n",
    )
    report = run_import(synced, path, topics, clock, consent="sheet")
    assert (report.new, report.merged_duplicates, report.rejected) == (2, 1, 2)
    assert emails(synced) == ["ana@example.org", "josé@xn--bcher-kva.example"]
    with transaction(synced) as session:
        ana = find_by_email(session, "ANA@example.org")
        assert ana is not None and ana.first_name == "Ana María"
        assert sorted(t.topic_key for t in ana.topics) == ["monthly-newsletter", "trainings-events"]
    assert report.rejects_path == tmp_path / "in.rejects.csv"
    with report.rejects_path.open(encoding="utf-8") as rejects:
        rows = list(csv.reader(rejects))
    assert rows[0] == ["line", "reason", "Email", "First Name", "Topics"]
    assert [r[0] for r in rows[1:]] == ["3", "6"]
    assert "not a valid email address" in rows[1][1]
    assert "unknown topic 'gardening'; known: monthly-newsletter" in rows[2][1]


def test_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", 'Email,Notes\n\na@example.org,"one\ntwo"\nb@example.org,x\n')
    table = read_table(path)
    assert [r.line for r in table.records] == [3, 5]


def test_skip_existing_is_default_and_update_fills(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    first = write(tmp_path / "a.csv", "Email,First Name,Role\nana@example.org,Ana,student\n")
    run_import(synced, first, topics, clock, consent="sheet")
    second = write(
        tmp_path / "b.csv",
        "Email,First Name,Role,Topics,Tags\nana@example.org,Ana,home visitor,policy-advocacy,vip\n",
    )
    report = run_import(synced, second, topics, clock, consent="sheet")
    assert (report.new, report.skipped_existing, report.updated) == (0, 1, 0)
    report = run_import(synced, second, topics, clock, consent="sheet", policy=ExistingPolicy.UPDATE)
    assert report.updated == 1
    with transaction(synced) as session:
        ana = find_by_email(session, "ana@example.org")
        assert ana is not None and ana.role == "home-visitor"  # the label, stored as its key
        assert {t.topic_key for t in ana.topics} == {"monthly-newsletter", "policy-advocacy"}
        assert [t.tag for t in ana.tags] == ["vip"]


@pytest.mark.parametrize("policy", list(ExistingPolicy))
def test_importing_the_same_file_twice_changes_nothing(
    policy: ExistingPolicy, synced: Engine, topics: Topics, clock: FixedClock
) -> None:
    members = Path(__file__).parents[2] / "lists" / "examples" / "members.csv"
    report = run_import(synced, members, topics, clock, policy=policy)
    assert report.new == 300 and report.rejected == 0
    before = snapshot(synced)
    clock.advance(3600)
    again = run_import(synced, members, topics, clock, policy=policy)
    assert again.new == 0 and again.updated == 0
    assert snapshot(synced) == before


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained", "suppressed", "erased"])
def test_an_import_never_resubscribes(
    status: str, synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    from outreach.audience.gdpr import erase

    path = write(tmp_path / "in.csv", "Email,First Name\nAna@Example.org,Ana\n")
    run_import(synced, path, topics, clock, consent="sheet")
    with transaction(synced) as session:
        ana = find_by_email(session, "ana@example.org")
        assert ana is not None
        if status == "suppressed":
            suppress(session, "ana@example.org", SuppressionReason.MANUAL, consent=ADMIN, clock=clock)
        elif status == "erased":
            erase(session, "ana@example.org", consent=ADMIN, clock=clock)
        else:
            stop_mailing(session, ana.id, SuppressionReason(status), consent=ADMIN, clock=clock)
    before = snapshot(synced)
    for policy in ExistingPolicy:
        report = run_import(synced, path, topics, clock, consent="sheet", policy=policy)
        assert report.new == 0 and report.updated == 0 and len(report.kept_out) == 1
    assert snapshot(synced) == before


def test_dry_run_writes_nothing(synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "Email\nana@example.org\nbad\n")
    before = snapshot(synced)
    report = run_import(synced, path, topics, clock, consent="sheet", dry_run=True)
    assert (report.new, report.rejected, report.dry_run) == (1, 1, True)
    assert snapshot(synced) == before


def test_a_failure_in_row_9000_of_10000_leaves_the_database_as_it_was(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    """The 9,000th row collides with the unique address index while writing: all is rolled back."""
    seed = write(tmp_path / "seed.csv", "Email\nalready@example.org\n")
    run_import(synced, seed, topics, clock, consent="sheet")
    before = snapshot(synced)
    lines = ["Email,First Name,Tags"] + [f"person{i}@example.org,P{i},t{i % 7}" for i in range(10_000)]
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    options = ImportOptions(consent="sheet")
    with pytest.raises(sa.exc.IntegrityError), transaction(synced) as session:
        plan = plan_import(session, read_table(path), options, topics)
        assert len(plan.new) == 10_000
        # Row 9,000 now repeats row 1's address: the database refuses it mid-apply.
        plan.new[8_999].email = plan.new[0].email
        apply_plan(session, plan, options, clock)
    assert snapshot(synced) == before
    assert count(synced, ConsentEvent) == len(before["consent"])


def test_failure_while_writing_becomes_import_rejected(
    synced: Engine,
    topics: Topics,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A topic the file knows but the database lacks fails the foreign key: nothing lands."""
    from outreach.audience import csv_import

    before = snapshot(synced)
    monkeypatch.setattr(csv_import, "sync_topics", lambda session, topics: None)
    extra = (*topics, TopicDefinition("ghost", "Ghost"))
    ghost = write(tmp_path / "g.csv", "Email,Topics\nana@example.org,ghost\nbo@example.org,\n")
    with pytest.raises(ImportRejected, match="rolled back, nothing was changed"):
        run_import(synced, ghost, extra, clock, consent="sheet")
    assert snapshot(synced) == before


def test_import_records_consent_for_each_change(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "in.csv",
        "Email,Topics\nana@example.org,monthly-newsletter;policy-advocacy\n",
    )
    run_import(
        synced,
        path,
        topics,
        clock,
        consent="Spring conference sign-up sheet, 2026-03",
        notice_version="2026-01",
        actor="coordinator",
    )
    with synced.connect() as connection:
        rows = connection.execute(
            sa.select(
                ConsentEvent.action,
                ConsentEvent.topics,
                ConsentEvent.method,
                ConsentEvent.source,
                ConsentEvent.notice_version,
                ConsentEvent.actor,
            ).order_by(ConsentEvent.id)
        ).all()
    assert [(r[0].value, r[1]) for r in rows] == [("subscribed", "monthly-newsletter policy-advocacy")]
    assert {(r[2].value, r[3], r[4], r[5]) for r in rows} == {
        ("import", "Spring conference sign-up sheet, 2026-03", "2026-01", "coordinator")
    }


def test_messy_example_export(synced: Engine, topics: Topics, clock: FixedClock) -> None:
    path = Path(__file__).parents[2] / "lists" / "examples" / "conference-signup-2026.csv"
    report = run_import(synced, path, topics, clock, consent="2026 conference sign-up sheet", dry_run=True)
    assert report.encoding == "cp1252" and report.delimiter == ";"
    assert (report.new, report.merged_duplicates, report.rejected) == (4, 1, 1)
    assert report.rejects_path is not None
    report.rejects_path.unlink()
