"""axe-core (WCAG 2.2 A and AA rules) finds nothing on any admin page, in Chromium.

The pages are found from the app's own routes, so a new page is checked without editing this test:
every GET route except the API, the static files, the live progress stream and the downloads is
opened as an admin (the sign-in steps as they come), with the ids of real fixture data for its path
parameters; a route with a parameter this test does not know fails it, saying which. axe-core comes
from ``tests/node`` (``npm ci`` there); without it the test skips and says so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy.engine import Engine
from starlette.routing import Route

from outreach.accounts.schema import Role
from outreach.accounts.signin import set_up_second_factor
from outreach.accounts.users import get_user
from outreach.admin.app import create_admin_app
from outreach.audience import transaction
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.models import Actor
from tests.admin.browser import browser_marks, chromium_page, sign_in_page
from tests.admin.campaign_fill import sent_campaign
from tests.admin.campaign_fill import topics as add_topics
from tests.admin.conftest import USERS
from tests.admin.live import live_admin
from tests.conftest import EXAMPLE_ISSUE, TEST_SECRET

AXE = Path(__file__).resolve().parents[1] / "node" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
pytestmark = [
    *browser_marks,
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is missing: run (cd tests/node && npm ci)"),
]
# Not pages: JSON, files, the event stream, the mail itself (checked by the render tests).
NOT_PAGES = ("/api/", "/static", "/progress", ".csv", ".eml", ".txt", "/mail.html", "/report.html")
SIGN_IN_STEPS = {"/login", "/login/code", "/login/setup"}


def pages(config: Config, engine: Engine, clock: FixedClock, values: dict[str, str]) -> list[str]:
    """Every page the app serves to a signed-in user, with real values for path parameters."""
    found = []
    for route in create_admin_app(config, engine, clock).routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        path = route.path
        if any(part in path for part in NOT_PAGES) or path in SIGN_IN_STEPS:
            continue
        for name in route.param_convertors:
            assert name in values, f"{path}: give the accessibility test a real {name!r}"
            path = path.replace(f"{{{name}:int}}", values[name]).replace(f"{{{name}}}", values[name])
        found.append(path)
    return sorted(set(found))


def violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations",
        TAGS,
    )
    return found


def summary(found: list[dict[str, Any]]) -> str:
    return json.dumps(
        [{"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in found],
        indent=1,
    )


def test_every_admin_page_has_no_axe_violations(
    project: Path, engine: Engine, clock: FixedClock, people: dict[Role, str], tmp_path: Path
) -> None:
    shutil.copy(EXAMPLE_ISSUE, project / "newsletters" / EXAMPLE_ISSUE.name)
    secret = pyotp.random_base32()
    with transaction(engine) as session:
        add_topics(session)
        filled = sent_campaign(session, clock, clock.now())
        admin = get_user(session, USERS[Role.ADMIN])
        code = pyotp.TOTP(secret).at(clock.now())
        set_up_second_factor(session, admin, secret, code, TEST_SECRET, Actor("t", "cli"), clock)
    values = {
        "slug": EXAMPLE_ISSUE.stem,
        "campaign_id": str(filled.campaign_id),
        "subscriber_id": str(filled.readers[0]),
        "name": "home-visitors",  # a segment of the project's lists/segments.yaml
    }
    problems: dict[str, str] = {}
    with (
        live_admin(project, engine, clock) as (base, config),
        chromium_page(tmp_path / "p", bypass_csp=True) as page,
    ):
        page.goto(f"{base}/admin/login")
        problems["/login"] = summary(violations(page))
        page.fill("#email", USERS[Role.ADMIN])
        page.fill("#password", "wrong password of many words")
        page.click("button[type=submit]")
        problems["/login (a wrong password)"] = summary(violations(page))
        sign_in_page(page, base, USERS[Role.ADMIN], pyotp.TOTP(secret).at(clock.now()))
        # An upload to look at: the import pages are about one file.
        upload = tmp_path / "members.csv"
        upload.write_text(
            "email,first_name\nnew.reader@example.org,Rosa\nnot-an-address,Bad\n", encoding="utf-8"
        )
        page.goto(f"{base}/admin/imports")
        page.set_input_files("#import-file", str(upload))
        page.click("form[enctype] button[type=submit]")
        values["upload_id"] = page.url.rstrip("/").rsplit("/", 1)[1].split("?")[0]
        checked = pages(config, engine, clock, values)
        assert "/" in checked and f"/campaigns/{filled.campaign_id}/report" in checked
        for shown in (
            f"/imports/{values['upload_id']}",
            f"/subscribers/{filled.readers[0]}",
            "/segments/home-visitors",
        ):
            assert shown in checked
        for path in [*checked, "/no-such-page"]:
            page.goto(f"{base}/admin{path}")
            problems[path] = summary(violations(page))
        # The check can fail: an image without a text alternative on the last page is found.
        page.evaluate("document.querySelector('main').append(Object.assign(new Image(), {src: 'data:,'}))")
        assert "image-alt" in {v["id"] for v in violations(page)}
    found = {path: text for path, text in problems.items() if text != "[]"}
    assert found == {}, "\n".join(f"{path}: {text}" for path, text in found.items())
