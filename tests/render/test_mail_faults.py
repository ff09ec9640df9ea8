"""Faults a deliverability audit found in the rendered mail, each checked on the mail itself.

Outlook needs MJML's pixel widths on images; the text part must carry an image's link; campaign
parameters belong on links, not on image addresses; the inbox preview must stop after the preheader;
card titles are headings and every layout has an h1; the starter's sign-off keeps its two lines; a
reader with no first name is greeted without "Dear friend" (SpamAssassin's DEAR_FRIEND)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import lxml.html
import pytest

from outreach.checks.spam import spam_score
from outreach.config import Config, load_config
from outreach.content import read_issue
from outreach.content.scaffold import scaffold_issue
from outreach.delivery.message import build_message, envelope_for, message_bytes
from outreach.models import Recipient
from outreach.render import render_issue
from outreach.render.personal import Personalised
from outreach.render.sample import SAMPLE_RECIPIENT
from outreach.tokens import recipient_links
from tests.conftest import EXAMPLE_ISSUE, REPO, TEST_SECRET

WriteIssue = Callable[..., Path]
GOLDEN_HTML = Path(__file__).parent.parent / "golden" / "2026-12-holding-the-holidays.html"
NAMELESS = Recipient(email="reader@example.org")


def _mail(path: Path, config: Config, reader: Recipient = SAMPLE_RECIPIENT) -> Personalised:
    issue = read_issue(path)
    links = recipient_links(config.base_url, config.secret_key, "1", issue.slug)
    return render_issue(issue, config).personalise(reader, links)


def _tree(html: str) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(html)


def test_images_keep_the_pixel_widths_mjml_wrote_for_outlook() -> None:
    """The golden example (compared byte for byte by test_render) has the logo at 180 px and the photo
    at 544 px: attributes Outlook for Windows sizes images by."""
    images = {img.get("src"): img.get("width") for img in _tree(GOLDEN_HTML.read_text()).iter("img")}
    assert images == {
        "https://vaimh.example/assets/vaimh-logo-white.png": "180",
        "https://vaimh.example/assets/newsletter/2026-12-father-and-son.jpg": "544",
    }


def test_an_image_without_a_width_gets_the_column_width_in_pixels(
    write_issue: WriteIssue, config: Config
) -> None:
    path = write_issue("Hello.\n\n![A family reading](https://vaimh.example/a.jpg)\n")
    widths = [img.get("width") for img in _tree(_mail(path, config).html).iter("img")]
    assert widths and all(w is not None and w.isdigit() for w in widths), widths


def test_an_image_link_is_in_the_text_part(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(
        "Hello.\n\n::: image\nsrc: https://vaimh.example/a.jpg\nalt: A family reading\n"
        "link: https://vaimh.example/stories\n:::\n"
    )
    text = _mail(path, config).text
    assert "[Image: A family reading]\nhttps://vaimh.example/stories" in text


def test_campaign_parameters_go_on_links_and_never_on_image_addresses(
    write_issue: WriteIssue, config: Config
) -> None:
    path = write_issue(
        "Hello.\n\n::: image\nsrc: https://vaimh.example/a.jpg\nalt: A family reading\n"
        "link: https://vaimh.example/stories\n:::\n",
        utm_campaign="dec",
    )
    tree = _tree(_mail(path, config).html)
    sources = [img.get("src") for img in tree.iter("img")]
    assert sources and not [s for s in sources if "utm_" in s], sources
    links = [a.get("href") for a in tree.iter("a") if "vaimh.example/stories" in (a.get("href") or "")]
    assert links == ["https://vaimh.example/stories?utm_source=newsletter&utm_medium=email&utm_campaign=dec"]


def test_the_inbox_preview_stops_after_the_preheader(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue("Hello.\n\nThe first words of the mail.\n")
    [preheader] = _tree(_mail(path, config).html).find_class("preheader")
    shown = preheader.text_content().replace("\n", " ")  # long lines are wrapped at a space
    assert shown.startswith("A preheader long enough to pass the check")
    filler = shown.removeprefix("A preheader long enough to pass the check")
    assert len(filler) >= 100 and not filler.strip(" \u034f\u200c\u00a0"), repr(filler[:20])


def _headings(html: str) -> list[tuple[str, str]]:
    tree = _tree(html)
    return [(h.tag, " ".join(h.text_content().split())) for h in tree.xpath("//h1|//h2|//h3|//h4|//h5|//h6")]


def test_card_titles_are_headings_one_below_their_section(write_issue: WriteIssue, config: Config) -> None:
    body = (
        "::: callout Before any section\nText.\n:::\n\n## A section\n\n"
        "::: event\ntitle: An event in it\nwhen: Soon\n:::\n\n### A smaller part\n\n"
        "::: callout Deeper\nText.\n:::\n"
    )
    headings = _headings(_mail(write_issue(body), config).html)
    assert headings == [
        ("h1", "A test issue"),
        ("h2", "Before any section"),
        ("h2", "A section"),
        ("h3", "An event in it"),
        ("h3", "A smaller part"),
        ("h4", "Deeper"),
    ]


def test_the_letter_layout_has_an_h1(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue("Hello {{ subscriber.first_name }},\n\nA personal note.\n", template="letter")
    mail = _mail(path, config)
    assert [h for h in _headings(mail.html) if h[0] == "h1"] == [("h1", "A test issue")]
    assert "\nA test issue\n" in mail.text


def test_a_body_written_with_hash_headings_sits_under_the_title(
    write_issue: WriteIssue, config: Config
) -> None:
    path = write_issue("# Hello, {{ subscriber.first_name }}!\n\nText.\n\n## A part\n\nMore.\n")
    mail = _mail(path, config)
    assert _headings(mail.html) == [("h1", "A test issue"), ("h2", "Hello, Ana!"), ("h3", "A part")]
    assert "Hello, Ana!\n===========" in mail.text  # not shouted in capitals like a title


def test_the_starters_sign_off_keeps_its_two_lines(tmp_path: Path, config: Config) -> None:
    path = scaffold_issue(tmp_path, "December 2026: Holding the Holidays", date(2026, 11, 24))
    mail = _mail(path, config)
    assert "With warm regards,\nThe VAIMH team" in mail.text
    assert re.search(r"With warm regards,<br\s*/?>\s*The VAIMH team", mail.html)


@pytest.mark.parametrize("source", ["starter", "example"])
def test_a_reader_without_a_name_is_greeted_warmly(tmp_path: Path, config: Config, source: str) -> None:
    path = (
        scaffold_issue(tmp_path, "December 2026: Holding the Holidays", date(2026, 11, 24))
        if source == "starter"
        else EXAMPLE_ISSUE
    )
    named, nameless = _mail(path, config), _mail(path, config, NAMELESS)
    assert "Hello Ana," in named.text
    assert "Hello there," in nameless.text and "Hello there," in nameless.html
    assert not re.search(r"^\s*Dear friend\b", nameless.text, re.IGNORECASE | re.MULTILINE)


@pytest.mark.spamassassin
@pytest.mark.skipif(shutil.which("spamassassin") is None, reason="apt-get install spamassassin")
def test_spamassassin_finds_no_dear_friend_for_a_nameless_reader() -> None:
    config = load_config(REPO, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})
    issue = read_issue(EXAMPLE_ISSUE, config.time_zone)
    links = recipient_links(config.base_url, config.secret_key, "1", issue.slug)
    mail = render_issue(issue, config).personalise(NAMELESS, links)
    envelope = envelope_for(issue, config, NAMELESS.email, datetime(2026, 12, 1, tzinfo=UTC), "")
    score = spam_score(message_bytes(build_message(envelope, mail, links, config)))
    assert score is not None
    assert "DEAR_FRIEND" not in score.tests and score.score < 1.0, score
