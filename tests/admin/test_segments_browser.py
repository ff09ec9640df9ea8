"""The segment page in Chromium: typing a rule updates the count and the sample by itself (our script,
debounced), and a mistake shows its line, with nothing pressed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from outreach.accounts.schema import Role
from outreach.audience import Consent, ConsentMethod, Profile, add_subscriber, transaction
from outreach.clock import FixedClock
from tests.admin.conftest import PASSWORD, USERS
from tests.admin.test_issues_browser import page, served  # noqa: F401 - fixtures
from tests.web.test_browser import CHROMIUM

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install chromium"),
]


@pytest.fixture
def visitors(engine: Engine, clock: FixedClock) -> None:
    with transaction(engine) as session:
        for email, region in (("hv1@example.org", "Richmond"), ("hv2@example.org", "Norfolk")):
            add_subscriber(
                session,
                email,
                consent=Consent(ConsentMethod.ADMIN, source="test"),
                clock=clock,
                profile=Profile(role="home-visitor", region=region),
            )


def test_typing_a_rule_updates_its_count(served: str, page: Any, visitors: None) -> None:  # noqa: F811
    page.goto(f"{served}/admin/login")
    page.fill("#email", USERS[Role.EDITOR])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{served}/admin/segments/home-visitors")
    live = page.locator("[data-live-src]")
    assert "2" in live.locator(".figure strong").first.inner_text()
    page.fill("#segment-rule", "all:\n  - role: home-visitor\n  - region: Richmond\n")
    # Waiting (with Playwright's own retries) for the script to ask the server and fill the answer in.
    sync_api.expect(live.locator(".figure strong").first).to_have_text("1")
    assert "hv1@example.org" in live.inner_text() and "hv2@example.org" not in live.inner_text()
    page.fill("#segment-rule", "all:\n  - role: home-visitor\n  - regio: Richmond\n")
    sync_api.expect(live.locator("#rule-problem")).to_contain_text("Line 3 of the rule")
