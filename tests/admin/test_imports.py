"""The Imports pages: an upload read as it is (encoding, separator, columns), the dry-run plan with the
rejected rows by line and reason, the rejects as CSV, a changed mapping, the consent basis required,
applying in the background, all or nothing, audited, and CSRF."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from outreach.accounts.schema import Role
from outreach.audience import transaction
from outreach.audience.audit import entries
from outreach.audience.choices import profile_choices
from outreach.audience.csv_import import import_csv
from outreach.audience.import_plan import ImportOptions
from outreach.audience.schema import ConsentEvent, Subscriber, SubscriberTag
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.operations.imports import (
    ApplyProgress,
    BackgroundImports,
    ImportShelf,
    ImportState,
    site_topics,
)
from tests.admin.conftest import USERS, csrf_of

PLAN = re.compile(r'name="plan" value="([0-9a-f]+)"')
MEMBERS = (
    "Email,First Name,Role,Tags,Notes\r\n"
    "ana@example.org,Ana,Home visitor,,fine\r\n"
    "not-an-address,Bo,Home visitor,,\r\n"
    "cy@example.org,Cy,Astronaut,,\r\n"
    'di@example.org,Di,Parent,board,=HYPERLINK("https://evil.example")\r\n'
)


def uploaded(client: TestClient, data: bytes, name: str = "members.csv") -> tuple[str, str]:
    """Upload a file; its page's address and text."""
    csrf = csrf_of(client.get("/admin/imports").text)
    answer = client.post(
        "/admin/imports",
        data={"csrf": csrf},
        files={"file": (name, data, "text/csv")},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    where = answer.headers["location"]
    page = client.get(where)
    assert page.status_code == 200, page.text
    return where, page.text


def form_of(page: str, **changes: str) -> dict[str, str]:
    """The import form's fields as the page fills them, with some changed."""
    fields = {"csrf": csrf_of(page), "plan": PLAN.search(page).group(1)}  # type: ignore[union-attr]
    for index, key in re.findall(r'name="header-(\d+)" value="([^"]*)"', page):
        fields[f"header-{index}"] = key
        select = re.search(rf'<select id="column-{index}" name="column-{index}">(.*?)</select>', page, re.S)
        assert select
        chosen = re.search(r"<option selected>([^<]+)</option>", select.group(1))
        assert chosen
        fields[f"column-{index}"] = chosen.group(1)
    fields["existing"] = "skip"
    fields.update(changes)
    return fields


def background(app: Starlette) -> BackgroundImports:
    mount = next(r for r in app.routes if isinstance(r, Mount))
    found: BackgroundImports = mount.app.state.background_imports  # type: ignore[union-attr]
    return found


def applied(client: TestClient, app: Starlette, where: str, fields: dict[str, str]) -> str:
    """Apply the import, wait for the background thread, and return the page afterwards."""
    answer = client.post(f"{where}/apply", data=fields, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    background(app).wait(where.rsplit("/", 1)[1], timeout=60)
    return client.get(where).text


def count(engine: Engine, table: type) -> int:
    with transaction(engine) as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def test_the_plan_shows_each_reject_with_its_line_and_reason_and_they_download(
    signed_in: Callable[[str], TestClient], engine: Engine
) -> None:
    client = signed_in(USERS[Role.EDITOR])
    where, page = uploaded(client, MEMBERS.encode())
    assert "Encoding: <strong>utf-8</strong> (detected)" in page
    assert "Separator: <strong>comma (,)</strong> (detected)" in page
    assert re.search(r"<dt>New subscribers</dt><dd>2</dd>", page)
    assert re.search(r"<dt>Rejected</dt><dd>2</dd>", page)
    assert re.search(r'<td class="num">3</td><td>[^<]*not-an-address[^<]*</td>', page) or re.search(
        r'<td class="num">3</td><td>[^<]+</td>', page
    )
    assert re.search(r'<td class="num">4</td><td>[^<]*Astronaut[^<]*</td>', page)
    assert count(engine, Subscriber) == 0  # a look writes nothing
    download = client.get(f"{where}/rejects.csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert 'filename="members.rejects.csv"' in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["line", "reason", "Email", "First Name", "Role", "Tags", "Notes"]
    assert [row[0] for row in rows[1:]] == ["3", "4"]
    assert "Astronaut" in rows[2][1]


def test_apply_needs_the_consent_basis_then_imports_and_is_audited(
    signed_in: Callable[[str], TestClient], engine: Engine, app: Starlette
) -> None:
    client = signed_in(USERS[Role.EDITOR])
    where, page = uploaded(client, MEMBERS.encode())
    refused = client.post(f"{where}/apply", data=form_of(page))
    assert refused.status_code == 400 and "write the consent basis" in refused.text
    assert count(engine, Subscriber) == 0
    done = applied(client, app, where, form_of(page, consent="Spring conference sign-up sheet, 2026-03"))
    assert "The file is imported" in done and re.search(r"<dt>New subscribers</dt><dd>2</dd>", done)
    assert "Download the 2 rejected rows" in done
    with transaction(engine) as session:
        assert sorted(session.scalars(sa.select(Subscriber.email))) == ["ana@example.org", "di@example.org"]
        sources = set(session.scalars(sa.select(ConsentEvent.source)))
        actors = set(session.scalars(sa.select(ConsentEvent.actor)))
        (entry,) = [e for e in entries(session) if e.action == "lists.import"]
    assert sources == {"Spring conference sign-up sheet, 2026-03"}
    assert actors == {f"{USERS[Role.EDITOR]} (admin app)"}
    assert entry.actor == USERS[Role.EDITOR] and entry.via == "admin"
    assert entry.detail["new"] == 2 and entry.detail["rejected"] == 2
    # Applied once only: a second apply is refused and changes nothing.
    again = client.post(f"{where}/apply", data=form_of(page, consent="again"))
    assert again.status_code == 409 and count(engine, Subscriber) == 2


REFUSE_BOOM = {
    "sqlite": [
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON subscriber_tags WHEN NEW.tag = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN IF NEW.tag = 'boom' THEN "
        "RAISE EXCEPTION 'the disk is full'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON subscriber_tags "
        "FOR EACH ROW EXECUTE FUNCTION refuse_boom()",
    ],
}


def test_a_failure_while_writing_leaves_nothing(
    signed_in: Callable[[str], TestClient], engine: Engine, app: Starlette
) -> None:
    """The database refuses one tag after the subscribers are written: the whole import goes."""
    with engine.begin() as connection:
        for statement in REFUSE_BOOM[engine.dialect.name]:
            connection.exec_driver_sql(statement)
    client = signed_in(USERS[Role.EDITOR])
    rows = "".join(
        f"person{n}@example.org,Person,home visitor,{'boom' if n == 40 else 'ok'}\r\n" for n in range(60)
    )
    where, page = uploaded(client, ("Email,First Name,Role,Tags\r\n" + rows).encode())
    assert re.search(r"<dt>New subscribers</dt><dd>60</dd>", page)
    done = applied(client, app, where, form_of(page, consent="Board list"))
    assert "failed, and nothing was written" in done and "the disk is full" in done
    assert (
        count(engine, Subscriber) == 0
        and count(engine, SubscriberTag) == 0
        and count(engine, ConsentEvent) == 0
    )
    with transaction(engine) as session:
        assert not [e for e in entries(session) if e.action == "lists.import"]
    # It may be applied again once the cause is gone.
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "DROP TRIGGER refuse_boom"
            + (" ON subscriber_tags" if engine.dialect.name == "postgresql" else "")
        )
    again = applied(client, app, where, form_of(client.get(where).text, consent="Board list"))
    assert "The file is imported" in again and count(engine, Subscriber) == 60


def test_changing_the_mapping_reads_the_column_as_chosen(
    signed_in: Callable[[str], TestClient], engine: Engine, app: Starlette
) -> None:
    client = signed_in(USERS[Role.EDITOR])
    where, page = uploaded(
        client, b"Contact,Member Type\r\nana@example.org,Home visitor\r\nbo@example.org,Parent\r\n"
    )
    assert "no email column" in page and "Apply the import" not in page
    fields = form_of(page, **{"column-0": "email", "column-1": "role", "consent": "Membership records"})
    stale = client.post(f"{where}/apply", data=fields)  # not looked at yet: shown first, not applied
    assert stale.status_code == 409 and "here is the new plan" in stale.text
    assert re.search(r"<dt>New subscribers</dt><dd>2</dd>", stale.text)
    assert count(engine, Subscriber) == 0
    done = applied(client, app, where, form_of(stale.text, consent="Membership records"))
    assert "The file is imported" in done
    with transaction(engine) as session:
        roles = dict(session.execute(sa.select(Subscriber.email, Subscriber.role)).all())
    assert roles == {"ana@example.org": "home-visitor", "bo@example.org": "parent-or-caregiver"}


def test_a_windows_1252_file_with_semicolons_is_read_right(
    signed_in: Callable[[str], TestClient], engine: Engine, app: Starlette
) -> None:
    client = signed_in(USERS[Role.EDITOR])
    data = "Email;First Name;Last Name\r\nrenee@example.org;Renée;Müller\r\n".encode("cp1252")
    where, page = uploaded(client, data)
    assert "Encoding: <strong>cp1252</strong> (detected)" in page
    assert "Separator: <strong>semicolon (;)</strong> (detected)" in page
    assert "Renée" in page  # the first values of each column
    # Read as comma-separated on purpose, the whole line is one column without an address.
    wrong = client.post(where, data=form_of(page, delimiter="comma"), follow_redirects=True)
    assert "no email column" in wrong.text
    right = client.post(where, data=form_of(wrong.text, delimiter=""), follow_redirects=True)
    done = applied(client, app, where, form_of(right.text, consent="Sign-up sheet"))
    assert "The file is imported" in done
    with transaction(engine) as session:
        assert session.scalar(sa.select(Subscriber.first_name)) == "Renée"
        assert session.scalar(sa.select(Subscriber.last_name)) == "Müller"


def test_uploads_need_the_csrf_token_and_the_editor_role(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in(USERS[Role.EDITOR])
    files = {"file": ("members.csv", MEMBERS.encode(), "text/csv")}
    assert client.post("/admin/imports", files=files).status_code == 403
    assert client.post("/admin/imports", data={"csrf": "forged"}, files=files).status_code == 403
    assert "members.csv" not in client.get("/admin/imports").text
    client.get("/admin/logout")
    viewer = signed_in(USERS[Role.VIEWER])
    assert viewer.get("/admin/imports").status_code == 403
    assert viewer.get("/admin/imports/" + "a" * 24).status_code == 403


def test_the_progress_of_a_large_file_is_heard_row_by_row(engine: Engine, admin_config: Config) -> None:
    """What the progress page shows comes from the import itself, as it writes each batch."""
    path = admin_config.root / "large.csv"
    rows = "".join(f"person{n}@example.org,Person {n}\r\n" for n in range(4500))
    path.write_text("Email,First Name\r\n" + rows, encoding="utf-8")
    heard: list[tuple[str, int, int]] = []
    choices = profile_choices(admin_config.settings.audience)
    options = ImportOptions(consent="Membership records", choices=choices)
    report = import_csv(
        engine,
        path,
        options,
        site_topics(admin_config),
        FixedClock(datetime(2026, 12, 1, tzinfo=UTC)),
        progress=lambda stage, done, total: heard.append((stage, done, total)),
    )
    assert report.new == 4500
    stages = [stage for stage, _, _ in heard]
    assert stages[:2] == ["reading", "checking"] and set(stages[2:]) == {"writing"}
    written = [done for stage, done, _ in heard if stage == "writing"]
    assert written == sorted(written) and 2000 in written and written[-1] == 4500
    assert {total for stage, _, total in heard if stage == "writing"} == {4500}
    shown = ApplyProgress(ImportState.APPLYING, "writing", 2000, 4500)
    assert shown.words == "Writing: 2,000 of 4,500 people done." and shown.percent == 44


def test_the_progress_page_and_its_stream(
    signed_in: Callable[[str], TestClient], app: Starlette, admin_config: Config
) -> None:
    client = signed_in(USERS[Role.EDITOR])
    where, _ = uploaded(client, MEMBERS.encode())
    upload_id = where.rsplit("/", 1)[1]
    # An apply that no thread runs any more (the app was restarted mid-way) says so: nothing written.
    shelf = ImportShelf(admin_config)
    found = shelf.get(upload_id)
    assert found is not None
    shelf.save(replace(found, state=ImportState.APPLYING))
    stopped = client.get(where).text
    assert "stopped before it finished" in stopped and "nothing was changed" in stopped
    done = applied(client, app, where, form_of(stopped, consent="Sign-up sheet"))
    assert "The file is imported" in done
    stream = client.get(f"{where}/progress")
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: ")]
    assert events[-1]["finished"] is True and events[-1]["words"] == "Finished: every row is written."
