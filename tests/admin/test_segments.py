"""The Segments pages: counts, a rule checked at its line, saving that keeps the file's comments, a
stale save refused, adding and deleting, who may do what, and the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.accounts.schema import Role
from outreach.audience import Consent, ConsentMethod, Profile, add_subscriber, transaction
from outreach.audience.audit import entries
from outreach.audience.segments import load_segments
from outreach.audience.topics import load_topics, sync_topics
from outreach.clock import FixedClock
from tests.admin.conftest import USERS, csrf_of

VERSION = re.compile(r'name="version" value="([0-9a-f]{64})"')
EDIT = """all:
  # only the home visitors of one region
  - role: home-visitor
  - region: Richmond
"""


@pytest.fixture
def members(engine: Engine, project: Path, clock: FixedClock) -> None:
    """Three home visitors (two in Richmond) and a parent."""
    with transaction(engine) as session:
        sync_topics(session, load_topics(project / "lists" / "topics.yaml"))
        for email, role, region in (
            ("hv1@example.org", "home-visitor", "Richmond"),
            ("hv2@example.org", "home-visitor", "Richmond"),
            ("hv3@example.org", "home-visitor", "Hampton Roads"),
            ("pa1@example.org", "parent-or-caregiver", "Richmond"),
        ):
            add_subscriber(
                session,
                email,
                consent=Consent(ConsentMethod.ADMIN, source="test"),
                clock=clock,
                profile=Profile(role=role, region=region),
                topics=("monthly-newsletter",),
            )


def opened(client: TestClient, name: str) -> tuple[str, str, str]:
    """The segment page's text, its CSRF token and the file version it was opened at."""
    page = client.get(f"/admin/segments/{name}")
    assert page.status_code == 200, page.text
    found = VERSION.search(page.text)
    assert found, "the page carries no file version"
    return page.text, csrf_of(page.text), found.group(1)


def test_the_list_counts_every_segment(signed_in: Callable[[str], TestClient], members: None) -> None:
    client = signed_in(USERS[Role.VIEWER])
    page = client.get("/admin/segments")
    assert page.status_code == 200
    row = re.search(r'href="/admin/segments/home-visitors">home-visitors</a></th>.*?</tr>', page.text, re.S)
    assert row and re.findall(r'class="num">(\d+)<', row.group(0)) == ["3", "3"]
    assert "Add a segment" not in page.text  # viewers read


def test_a_mistake_names_its_line_in_the_rule_box(
    signed_in: Callable[[str], TestClient], members: None, project: Path
) -> None:
    client = signed_in(USERS[Role.EDITOR])
    _, csrf, version = opened(client, "home-visitors")
    before = (project / "lists" / "segments.yaml").read_bytes()
    for action in ("check", "save"):
        answer = client.post(
            "/admin/segments/home-visitors",
            data={
                "csrf": csrf,
                "version": version,
                "description": "x",
                "rule": "all:\r\n  - role: home-visitor\r\n  - rol: parent\r\n",
                "action": action,
            },
        )
        assert answer.status_code == 400
        assert "Line 3 of the rule: unknown field or rule &#39;rol&#39;; valid: all, any, not" in answer.text
        assert 'aria-invalid="true"' in answer.text
    # a role written as its label is refused with the key to write, as `outreach segments` does
    answer = client.post(
        "/admin/segments/count",
        data={"csrf": csrf, "rule": "role: Home visitor"},
        headers={"X-CSRF-Token": csrf},
    )
    assert (
        "Line 1 of the rule: &#39;Home visitor&#39; is not a role key; write its key &#39;home-visitor&#39;"
        in answer.text
    )
    assert (project / "lists" / "segments.yaml").read_bytes() == before


def test_check_counts_before_saving_and_save_keeps_the_comments(
    signed_in: Callable[[str], TestClient], members: None, project: Path, engine: Engine
) -> None:
    path = project / "lists" / "segments.yaml"
    original = path.read_text(encoding="utf-8")
    client = signed_in(USERS[Role.EDITOR])
    text, csrf, version = opened(client, "home-visitors")
    assert "<strong>3</strong> match" in text
    form = {"csrf": csrf, "version": version, "description": "Home visitors in Richmond", "rule": EDIT}
    checked = client.post("/admin/segments/home-visitors", data={**form, "action": "check"})
    assert checked.status_code == 200 and "<strong>2</strong> match" in checked.text
    assert "hv1@example.org" in checked.text and "hv3@example.org" not in checked.text
    assert path.read_text(encoding="utf-8") == original  # a check writes nothing
    live = client.post(
        "/admin/segments/count", data={"csrf": csrf, "rule": EDIT}, headers={"X-CSRF-Token": csrf}
    )
    assert "<strong>2</strong> match" in live.text and "<html" not in live.text

    saved = client.post(
        "/admin/segments/home-visitors", data={**form, "action": "save"}, follow_redirects=False
    )
    assert (
        saved.status_code == 303 and saved.headers["location"] == "/admin/segments/home-visitors?done=saved"
    )
    after = path.read_text(encoding="utf-8")
    # every comment and every other segment as it was; the rule as typed, with its comment
    assert after.splitlines()[:5] == original.splitlines()[:5]
    assert "    # only the home visitors of one region\n" in after
    unchanged = original.split("home-visitors:")[0]
    assert after.startswith(unchanged)
    assert (
        after.split("early-educators-outside-nova:")[1] == original.split("early-educators-outside-nova:")[1]
    )
    segment = load_segments(path)["home-visitors"]
    assert segment.description == "Home visitors in Richmond"
    page = client.get("/admin/segments")
    row = re.search(r'href="/admin/segments/home-visitors">home-visitors</a></th>.*?</tr>', page.text, re.S)
    assert row and re.findall(r'class="num">(\d+)<', row.group(0)) == ["2", "2"]
    with transaction(engine) as session:
        (entry,) = [e for e in entries(session) if e.action == "segment.edit"]
    assert (
        entry.actor == USERS[Role.EDITOR] and entry.via == "admin" and entry.target == "segment home-visitors"
    )
    assert entry.detail["rule_before"] == "role: home-visitor\n" and "Richmond" in entry.detail["rule"]


def test_a_save_over_a_file_changed_meanwhile_is_refused(
    signed_in: Callable[[str], TestClient], members: None, project: Path
) -> None:
    path = project / "lists" / "segments.yaml"
    client = signed_in(USERS[Role.EDITOR])
    _, csrf, version = opened(client, "home-visitors")
    changed = path.read_text(encoding="utf-8").replace("role: home-visitor", "role: early-educator", 1)
    path.write_text(changed, encoding="utf-8")  # someone else, meanwhile
    form = {"csrf": csrf, "version": version, "description": "mine", "rule": EDIT, "action": "save"}
    answer = client.post("/admin/segments/home-visitors", data=form)
    assert answer.status_code == 409
    assert "has changed since you opened this page" in answer.text
    assert "only the home visitors of one region" in answer.text  # their text is kept
    assert path.read_text(encoding="utf-8") == changed
    # Having seen the saved version, saving again replaces it.
    newer = VERSION.search(answer.text)
    assert newer and newer.group(1) != version
    again = client.post("/admin/segments/home-visitors", data={**form, "version": newer.group(1)})
    assert again.status_code == 200 and "Richmond" in path.read_text(encoding="utf-8")


def test_add_and_delete_a_segment(
    signed_in: Callable[[str], TestClient], members: None, project: Path, engine: Engine
) -> None:
    path = project / "lists" / "segments.yaml"
    client = signed_in(USERS[Role.EDITOR])
    page = client.get("/admin/segments/new")
    csrf, version = csrf_of(page.text), VERSION.search(page.text).group(1)  # type: ignore[union-attr]
    form = {"csrf": csrf, "version": version, "description": "Parents", "rule": "role: parent-or-caregiver"}
    taken = client.post("/admin/segments/new", data={**form, "name": "home-visitors", "action": "save"})
    assert taken.status_code == 400 and "already a segment" in taken.text
    bad = client.post("/admin/segments/new", data={**form, "name": "Parents!", "action": "save"})
    assert bad.status_code == 400 and "lower-case letters, digits and dashes" in bad.text
    added = client.post(
        "/admin/segments/new", data={**form, "name": "parents", "action": "save"}, follow_redirects=False
    )
    assert added.status_code == 303
    assert "parents" in load_segments(path)
    assert client.get("/admin/segments/parents").status_code == 200
    # Editors do not delete.
    _, csrf, version = opened(client, "parents")
    refused = client.post(
        "/admin/segments/parents/delete", data={"csrf": csrf, "version": version, "confirm": "parents"}
    )
    assert refused.status_code == 403
    client.get("/admin/logout")
    client = signed_in(USERS[Role.ADMIN])
    _, csrf, version = opened(client, "parents")
    unconfirmed = client.post("/admin/segments/parents/delete", data={"csrf": csrf, "version": version})
    assert unconfirmed.status_code == 400 and "parents" in load_segments(path)
    deleted = client.post(
        "/admin/segments/parents/delete",
        data={"csrf": csrf, "version": version, "confirm": "parents"},
        follow_redirects=False,
    )
    assert deleted.status_code == 303 and "parents" not in load_segments(path)
    assert client.get("/admin/segments/parents").status_code == 404
    with transaction(engine) as session:
        actions = [e.action for e in entries(session) if e.action.startswith("segment.")]
    assert actions == ["segment.delete", "segment.add"]


def test_viewers_read_and_cannot_change(signed_in: Callable[[str], TestClient], members: None) -> None:
    client = signed_in(USERS[Role.VIEWER])
    page = client.get("/admin/segments/home-visitors")
    assert page.status_code == 200 and "<textarea" not in page.text and "role: home-visitor" in page.text
    csrf = csrf_of(page.text)
    assert (
        client.post("/admin/segments/home-visitors", data={"csrf": csrf, "action": "save"}).status_code == 403
    )
    assert client.get("/admin/segments/new").status_code == 403
    assert client.post("/admin/segments/count", data={"csrf": csrf, "rule": "tag: x"}).status_code == 403


def test_a_change_without_the_csrf_token_is_refused(
    signed_in: Callable[[str], TestClient], members: None, project: Path
) -> None:
    path = project / "lists" / "segments.yaml"
    before = path.read_bytes()
    client = signed_in(USERS[Role.EDITOR])
    _, _, version = opened(client, "home-visitors")
    form = {"version": version, "description": "x", "rule": EDIT, "action": "save"}
    assert client.post("/admin/segments/home-visitors", data=form).status_code == 403
    assert client.post("/admin/segments/home-visitors", data={**form, "csrf": "forged"}).status_code == 403
    assert path.read_bytes() == before


def test_a_broken_file_is_named_at_its_line_and_its_segment_can_be_put_right(
    signed_in: Callable[[str], TestClient], project: Path
) -> None:
    path = project / "lists" / "segments.yaml"
    broken = path.read_text(encoding="utf-8").replace("role: home-visitor", "rol: home-visitor")
    path.write_text(broken, encoding="utf-8")
    line = broken.splitlines().index("    rol: home-visitor") + 1
    client = signed_in(USERS[Role.EDITOR])
    page = client.get("/admin/segments")
    assert f"lists/segments.yaml:{line}: unknown field or rule &#39;rol&#39;" in page.text
    # The segment opens with the mistake at its line of the rule box, and can be put right here.
    opened = client.get("/admin/segments/home-visitors")
    assert (
        opened.status_code == 400 and "Line 1 of the rule: unknown field or rule &#39;rol&#39;" in opened.text
    )
    assert path.read_text(encoding="utf-8") == broken
    version = VERSION.search(opened.text).group(1)  # type: ignore[union-attr]
    form = {"csrf": csrf_of(opened.text), "version": version, "description": "Home visitors"}
    fixed = client.post(
        "/admin/segments/home-visitors",
        data={**form, "rule": "role: home-visitor", "action": "save"},
        follow_redirects=False,
    )
    assert fixed.status_code == 303 and "home-visitors" in load_segments(path)
