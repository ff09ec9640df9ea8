"""End to end in headless Chromium (Debian's, driven by Playwright; no browser is ever downloaded).

A real uvicorn serves the app on a free port of 127.0.0.1, which is also the project's base URL, so
the links in the mail lead back to it. The confirmation and the issue go to the project's Maildir.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.engine import Engine

from outreach.audience import SubscriberStatus, find_by_email, make_engine, transaction
from outreach.clock import SystemClock
from outreach.config import Config, load_config
from outreach.delivery.pacing import Pace, RateLimits
from outreach.delivery.runner import CampaignRunner, RunSettings
from outreach.delivery.wiring import build_transport
from outreach.transports.maildir import messages
from outreach.web.app import create_app
from tests.conftest import TEST_SECRET
from tests.ports import free_port
from tests.web.conftest import make_campaign

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install chromium"),
]
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (the browser comes from Debian)"
)


@pytest.fixture
def served(project: Path, web_template_db: Path) -> Iterator[tuple[Config, Engine]]:
    """The project served by uvicorn at its own base URL, on a thread."""
    port = free_port()
    (project / "outreach.db").write_bytes(web_template_db.read_bytes())
    local = {"OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_BASE_URL": f"http://127.0.0.1:{port}"}
    config = load_config(project, environ=local)
    engine = make_engine(config.database_url)
    app = create_app(config, engine)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield config, engine
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def _mail(outbox: Path, subject_part: str) -> EmailMessage:
    """The newest mail about ``subject_part``; the service's mail worker sends it just after the answer,
    so wait for it (up to a generous limit, for a busy machine)."""
    deadline = time.monotonic() + 30
    while not (found := [m for m in messages(outbox) if subject_part in str(m["Subject"])]):
        assert time.monotonic() < deadline, f"no mail about {subject_part!r} in {outbox}"
        time.sleep(0.05)
    return found[-1]


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_sign_up_confirm_change_preferences_and_unsubscribe_from_an_issue(
    served: tuple[Config, Engine], page: Any, write_issue: Callable[..., Path]
) -> None:
    config, engine = served
    base = config.base_url
    outbox = config.root / "outbox"

    page.goto(f"{base}/subscribe")
    page.get_by_label("Your email address").fill("rosa@example.org")
    page.get_by_label("First name").fill("Rosa")
    page.get_by_label("Trainings and events").check()
    page.get_by_role("button", name="Sign me up").click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_contain_text("check your inbox")

    confirmation = _mail(outbox, "confirm")
    assert confirmation["To"] == "Rosa <rosa@example.org>"
    confirm_url = re.search(rf"{re.escape(base)}/confirm/\S+", _text(confirmation))
    assert confirm_url
    page.goto(confirm_url.group(0))
    with transaction(engine) as session:
        subscriber = find_by_email(session, "rosa@example.org")
        assert subscriber is not None and subscriber.status is SubscriberStatus.UNCONFIRMED
    page.get_by_role("button", name="Yes, sign me up").click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_contain_text("You're subscribed")

    page.get_by_role("link", name="Choose your preferences").click()
    sync_api.expect(page.get_by_label("Trainings and events")).to_be_checked()
    page.get_by_label("Policy and advocacy").check()
    page.get_by_label("Language of our mail").select_option("es")
    page.get_by_role("button", name="Save my choices").click()
    # Her mail is Spanish from now on, and so are the pages her links open (docs/languages.md).
    sync_api.expect(page.get_by_role("status")).to_contain_text("Guardado.")
    assert page.get_attribute("html", "lang") == "es"
    with transaction(engine) as session:
        subscriber = find_by_email(session, "rosa@example.org")
        assert subscriber is not None and subscriber.status is SubscriberStatus.ACTIVE
        assert subscriber.language == "es"
        assert sorted(t.topic_key for t in subscriber.topics) == [
            "monthly-newsletter",
            "policy-advocacy",
            "trainings-events",
        ]

    clock = SystemClock()
    campaign_id = make_campaign(config, engine, clock, write_issue, subject="Winter issue")  # type: ignore[arg-type]
    CampaignRunner(
        engine,
        campaign_id,
        build_transport(config, "outbox"),
        Pace(RateLimits(), clock, lambda seconds: None),
        clock,
        RunSettings(batch_size=10, concurrency=1),
        base_url=base,
        secret=config.secret_key,
    ).run(wait_for_retries=False)
    issue = _mail(outbox, "Winter issue")
    unsubscribe = re.search(r"Unsubscribe: (\S+)", _text(issue))
    assert unsubscribe and str(issue["List-Unsubscribe"]).startswith(f"<{unsubscribe.group(1)}>")

    page.goto(unsubscribe.group(1))
    sync_api.expect(page.get_by_role("heading", level=1)).to_contain_text("dejar de recibir")
    with transaction(engine) as session:
        subscriber = find_by_email(session, "rosa@example.org")
        assert subscriber is not None and subscriber.status is SubscriberStatus.ACTIVE
    page.get_by_role("button", name="Cancelar mi suscripción").click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_contain_text("Su suscripción está cancelada")
    with transaction(engine) as session:
        subscriber = find_by_email(session, "rosa@example.org")
        assert subscriber is not None and subscriber.status is SubscriberStatus.UNSUBSCRIBED

    view_online = re.search(r"View this issue online: (\S+)", _text(issue))
    assert view_online
    page.goto(view_online.group(1))
    sync_api.expect(page.locator("body")).to_contain_text("Dear friend, hello.")
