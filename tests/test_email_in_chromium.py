"""The rendered example issue in headless Chromium (Debian's ``chromium``, flags in docs/design.md section 8).

No horizontal scroll at 375 px, the two-column section side by side at 600 and 640 px and stacked on
a phone, every visible text at least 4.5:1 against its background in light and dark mode, callout and
event cards that keep their padded colour in dark mode, and the logo's alt text readable on the header
band when images are off.

One browser serves the whole module. Nothing reaches the network: every request other than
``file:``, ``data:`` and ``about:`` is aborted, except images, which are answered with a local
1200x800 PNG so that an image that does not scale down would show up as overflow.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outreach.config import load_config
from outreach.content import read_issue
from outreach.render import render_issue
from outreach.render.sample import SAMPLE_RECIPIENT
from outreach.tokens import recipient_links
from tests.conftest import EXAMPLE_ISSUE, REPO, TEST_SECRET

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
LEFT, RIGHT = "For parents and caregivers", "For professionals"

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install chromium"),
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (the browser comes from Debian)"
)


def _png(width: int, height: int) -> bytes:
    """A solid-colour PNG, built here so that no image is ever fetched."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"\x8a\x9a\x5b" * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


PICTURE = _png(1200, 800)
LOCAL = ("file:", "data:", "about:")


def _route(route: Any) -> None:
    request = route.request
    if request.url.startswith(LOCAL):
        route.continue_()
    elif request.resource_type == "image":
        route.fulfill(status=200, content_type="image/png", body=PICTURE)
    else:
        route.abort()


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The example issue as the sample reader gets it (the same path ``outreach check`` takes)."""
    config = load_config(REPO, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})
    issue = read_issue(EXAMPLE_ISSUE, config.time_zone)
    links = recipient_links(config.base_url, config.secret_key, "sample", issue.slug)
    html = render_issue(issue, config).personalise(SAMPLE_RECIPIENT, links).html
    (tmp_path_factory.mktemp("rendered") / "example.html").write_text(html, encoding="utf-8")
    return html


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 600, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def open_example(browser: Any, example_html: str) -> Iterator[Any]:
    """open_example(width, scheme) -> a page showing the example at that width and colour scheme."""
    pages: list[Any] = []

    def open_(width: int, scheme: str = "light") -> Any:
        page = browser.new_page()
        pages.append(page)
        page.route("**/*", _route)
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": width, "height": 900})
        page.set_content(example_html, wait_until="load")
        return page

    yield open_
    for page in pages:
        page.close()


def _box(page: Any, text: str) -> dict[str, float]:
    heading = page.get_by_role("heading", name=text, exact=True)
    assert heading.count() == 1, f"the heading {text!r} is not in the rendered example"
    box = heading.bounding_box()
    assert box is not None, f"the heading {text!r} is not displayed"
    return dict(box)


# --- layout ---------------------------------------------------------------------------------------------


def test_the_example_loaded_its_pictures_locally(open_example: Any) -> None:
    page = open_example(375)
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
    assert widths and all(w == 1200 for w in widths)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_horizontal_scroll_at_375(open_example: Any, scheme: str) -> None:
    page = open_example(375, scheme)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.evaluate("document.body.scrollWidth") <= 375
    overflowing = page.evaluate("""() => [...document.body.querySelectorAll('*')]
        .filter(e => { const r = e.getBoundingClientRect();
                       return r.width > 0 && r.height > 0 && r.right > window.innerWidth + 0.5; })
        .map(e => e.tagName + '.' + e.className + ' right=' + e.getBoundingClientRect().right)""")
    assert overflowing == []


@pytest.mark.parametrize("width", [600, 640])
def test_two_columns_side_by_side_on_a_wide_screen(open_example: Any, width: int) -> None:
    page = open_example(width)
    left, right = _box(page, LEFT), _box(page, RIGHT)
    assert abs(left["y"] - right["y"]) <= 2, (left, right)
    assert right["x"] >= left["x"] + left["width"], (left, right)
    assert right["x"] + right["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    columns = page.eval_on_selector_all(
        ".mj-column-per-50",
        "cols => cols.map(c => { const r = c.getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width}; })",
    )
    assert len(columns) == 2
    assert abs(columns[0]["y"] - columns[1]["y"]) <= 1
    assert columns[1]["x"] >= columns[0]["x"] + columns[0]["width"] - 1


def test_two_columns_stack_on_a_phone(open_example: Any) -> None:
    page = open_example(375)
    left, right = _box(page, LEFT), _box(page, RIGHT)
    assert right["y"] >= left["y"] + left["height"], (left, right)
    assert abs(left["x"] - right["x"]) <= 1, (left, right)


# --- contrast -------------------------------------------------------------------------------------------

CONTRAST_JS = """() => {
  const parse = (value) => {
    const m = value.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const backdrop = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const colour = parse(getComputedStyle(e).backgroundColor);
      if (colour && colour.a > 0) return colour;
    }
    return {r: 255, g: 255, b: 255, a: 1};  // the canvas
  };
  const over = (fg, bg) => ({r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a),
                             b: fg.b * fg.a + bg.b * (1 - fg.a), a: 1});
  const seen = new Set(), results = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || seen.has(element)) continue;
    seen.add(element);
    const style = getComputedStyle(element), rect = element.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0 || style.visibility !== 'visible') continue;
    const bg = backdrop(element), fg = over(parse(style.color), bg);
    const [light, dark] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
    results.push({text: node.textContent.trim().slice(0, 50), tag: element.tagName,
                  color: style.color, background: `rgb(${bg.r}, ${bg.g}, ${bg.b})`,
                  ratio: (light + 0.05) / (dark + 0.05)});
  }
  return results;
}"""


def _luminance(rgb: str) -> float:
    red, green, blue = (int(v) / 255 for v in re.findall(r"[\d.]+", rgb)[:3])
    return sum(
        weight * (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
        for weight, c in zip((0.2126, 0.7152, 0.0722), (red, green, blue), strict=True)
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_visible_text_has_contrast(open_example: Any, scheme: str) -> None:
    page = open_example(600, scheme)
    texts = page.evaluate(CONTRAST_JS)
    assert len(texts) >= 30, "the walk found too little text to mean anything"
    assert any(LEFT in t["text"] for t in texts) and any("Unsubscribe" in t["text"] for t in texts)
    low = [t for t in texts if t["ratio"] < 4.5]
    assert low == [], "\n".join(
        f"{t['ratio']:.2f}:1 {t['tag']} {t['text']!r} {t['color']} on {t['background']}" for t in low
    )
    # Dark mode must really be dark (not the light page checked twice), and light really light.
    body_text = next(t for t in texts if t["text"].startswith("December can be"))
    background = _luminance(body_text["background"])
    assert background < 0.05 if scheme == "dark" else background > 0.9


def test_readers_see_no_raw_markup(open_example: Any) -> None:
    page = open_example(600)
    shown = page.inner_text("body")
    assert re.findall(r"</?[a-zA-Z][^>\n]*>", shown) == []


# --- cards in dark mode, the logo with images off ---------------------------------------------------------

CARDS_JS = """() => [...document.querySelectorAll('td.callout, td.event')].map(td => {
  const style = getComputedStyle(td), inner = td.querySelector('div');
  const section = td.closest('.sheet');
  const text = td.querySelector('h2, h3, h4, h5, h6, p').getBoundingClientRect();
  const box = td.getBoundingClientRect();
  return {card: style.backgroundColor, inner: getComputedStyle(inner).backgroundColor,
          sheet: getComputedStyle(section.querySelector('td')).backgroundColor,
          left: text.left - box.left, top: text.top - box.top};
})"""


@pytest.mark.parametrize("width", [375, 600])
def test_callout_and_event_cards_keep_their_padding_in_dark_mode(open_example: Any, width: int) -> None:
    """The card's colour fills its padding: the text sits inside a coloured box, not at its edge."""
    for scheme in ("dark", "light"):
        cards = open_example(width, scheme).evaluate(CARDS_JS)
        assert len(cards) == 4  # the example's two callouts (one in a section for clinicians) and two events
        for card in cards:
            assert card["card"] != card["sheet"], (scheme, card)  # the padded cell has the card's colour
            assert card["inner"] in ("rgba(0, 0, 0, 0)", card["card"]), (scheme, card)  # nothing paints over
            assert card["left"] >= 20 and card["top"] >= 14, (scheme, card)


LOGO_JS = """() => {
  const img = document.querySelector('.logo img');
  let e = img, background = null;
  for (; e; e = e.parentElement) {
    const colour = getComputedStyle(e).backgroundColor;
    if (colour !== 'rgba(0, 0, 0, 0)') { background = colour; break; }
  }
  return {color: getComputedStyle(img).color, background, alt: img.alt, complete: img.naturalWidth};
}"""


def _images_off(route: Any) -> None:
    if route.request.resource_type == "image":
        route.abort()
    else:
        _route(route)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_logo_alt_text_is_readable_with_images_off(browser: Any, example_html: str, scheme: str) -> None:
    page = browser.new_page()
    try:
        page.route("**/*", _images_off)
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": 600, "height": 900})
        page.set_content(example_html, wait_until="load")
        logo = page.evaluate(LOGO_JS)
    finally:
        page.close()
    assert logo["alt"] and logo["complete"] == 0  # the picture really did not load
    light, dark = sorted((_luminance(logo["color"]), _luminance(logo["background"])), reverse=True)
    assert (light + 0.05) / (dark + 0.05) >= 4.5, logo
