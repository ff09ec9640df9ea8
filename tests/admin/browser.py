"""Debian's Chromium driven by Playwright for the admin app's browser tests (no browser is downloaded),
and signing in through the real form, with the authenticator code when the user has a second factor."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.admin.conftest import PASSWORD
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "admin"
browser_marks = [
    pytest.mark.chromium,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install chromium"),
]


@contextmanager
def chromium_page(profile: Path, *, bypass_csp: bool = False, width: int = 1280) -> Iterator[Any]:
    """A fresh page in headless Chromium; ``bypass_csp`` lets a test inject its own script (axe-core)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,  # the profile folder is the --user-data-dir
            bypass_csp=bypass_csp,
            viewport={"width": width, "height": 900},
        )
        # A send plan scores the issue with SpamAssassin: seconds on a busy machine. A guard, not a timing.
        context.set_default_timeout(180_000)
        try:
            yield context.new_page()
        finally:
            context.close()


def sign_in_page(page: Any, base: str, email: str, code: str | None = None) -> None:
    """Sign in through the form (and the code page, when ``code`` is given); ends on the dashboard."""
    page.goto(f"{base}/admin/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    if code is not None:
        page.wait_for_url("**/admin/login/code**")
        page.fill("#code", code)
        page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")


def screenshot(page: Any, name: str) -> None:
    """docs/admin/NAME.png, only when OUTREACH_SCREENSHOTS=1 (normal runs leave the tree clean)."""
    if os.environ.get("OUTREACH_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
