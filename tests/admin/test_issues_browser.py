"""The issue page in Chromium: both preview frames show the mail under its own policy (its inline
styles apply, nothing is blocked on the app's page), and our script fits each frame to the mail."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.routing import Mount

from outreach.accounts.schema import Role
from outreach.admin.app import create_admin_app
from outreach.clock import FixedClock
from outreach.config import load_config
from tests.admin.conftest import PASSWORD, USERS
from tests.conftest import EXAMPLE_ISSUE, TEST_SECRET
from tests.ports import free_port
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install chromium"),
]
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (the browser comes from Debian)"
)


@pytest.fixture
def served(project: Path, engine: Engine, clock: FixedClock, people: dict[Role, str]) -> Iterator[str]:
    """The admin app at /admin/ under uvicorn on a thread; its base address."""
    shutil.copy(EXAMPLE_ISSUE, project / "newsletters" / EXAMPLE_ISSUE.name)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_BASE_URL": base})
    app = Starlette(routes=[Mount("/admin", create_admin_app(config, engine, clock))])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield base
    server.should_exit = True
    thread.join(timeout=10)


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


def test_the_preview_frames_show_the_mail_styled_and_fitted(served: str, page: Any) -> None:
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{served}/admin/login")
    page.fill("#email", USERS[Role.VIEWER])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{served}/admin/issues/{EXAMPLE_ISSUE.stem}")
    page.wait_for_load_state("load")

    for kind, width in (("phone", 375), ("desktop", 600)):
        frame_element = page.locator(f"iframe.mail-frame.{kind}")
        frame_element.element_handle().content_frame().wait_for_load_state("load")
        page.wait_for_function(
            "el => el.getBoundingClientRect().height > 900", arg=frame_element.element_handle()
        )
        box = frame_element.bounding_box()
        assert round(box["width"]) in (width, width + 2)  # the border
        inner = frame_element.element_handle().content_frame()
        heading = inner.locator("h1").first
        assert "Holding the Holidays" in heading.inner_text()
        # The layout's inline styles apply inside the frame: the heading is in the brand's serif.
        assert "Georgia" in heading.evaluate("el => getComputedStyle(el).fontFamily")
        assert inner.evaluate("document.documentElement.scrollHeight") <= box["height"] + 8
    assert refused == []
