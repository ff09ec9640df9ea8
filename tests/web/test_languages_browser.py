"""In Debian's headless Chromium (Playwright; no browser is downloaded): a Spanish browser gets the
pages in Spanish with ``<html lang="es">``, and the switch to English holds for the next page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, served  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install chromium"),
]
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (the browser comes from Debian)"
)


@pytest.fixture
def spanish_page(tmp_path: Path) -> Iterator[Any]:
    """A browser whose reader prefers Spanish (it sends Accept-Language: es-US, es)."""
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            locale="es-US",
            extra_http_headers={"Accept-Language": "es-US,es;q=0.9"},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_a_spanish_browser_reads_the_pages_in_spanish_and_can_switch(
    served: tuple[Any, Any],  # noqa: F811
    spanish_page: Any,
) -> None:
    config, _ = served
    page = spanish_page
    page.goto(f"{config.base_url}/subscribe")
    assert page.get_attribute("html", "lang") == "es"
    assert page.locator("h1").inner_text() == "Reciba las noticias de VAIMH"
    assert page.get_by_role("button", name="Suscribirme").is_visible()
    assert page.locator("#language").input_value() == "es"  # the mail in the page's language
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    assert page.locator("h1").inner_text() == "Sign up for news from VAIMH"
    # The choice is remembered: a later page is English although the browser prefers Spanish.
    page.goto(f"{config.base_url}/")
    assert page.get_attribute("html", "lang") == "en"
    assert page.get_by_role("link", name="Español").is_visible()
