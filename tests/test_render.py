"""Rendering: golden files, placeholders that survive MJML and premailer, and safe personalisation."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from outreach.config import Config, load_config
from outreach.content import read_issue
from outreach.errors import TemplateError
from outreach.models import Recipient
from outreach.render import render_issue
from outreach.render.sample import SAMPLE_RECIPIENT
from outreach.tokens import recipient_links
from tests.conftest import EXAMPLE_ISSUE, REPO, TEST_SECRET

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def repo_config() -> Config:
    return load_config(REPO, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


def _links(config: Config, slug: str = "2026-12-holding-the-holidays"):  # type: ignore[no-untyped-def]
    return recipient_links(config.base_url, config.secret_key, "42", slug)


def test_example_matches_golden_files(repo_config: Config, request: pytest.FixtureRequest) -> None:
    compiled = render_issue(read_issue(EXAMPLE_ISSUE), repo_config)
    mail = compiled.personalise(SAMPLE_RECIPIENT, _links(repo_config))
    outputs = {
        "2026-12-holding-the-holidays.html": mail.html,
        "2026-12-holding-the-holidays.txt": mail.text,
    }
    if request.config.getoption("--update-golden"):
        for name, content in outputs.items():
            (GOLDEN / name).write_text(content, encoding="utf-8")
    for name, content in outputs.items():
        expected = (GOLDEN / name).read_text(encoding="utf-8")
        assert content == expected, f"{name} differs; run pytest --update-golden if intended"


def test_rendering_is_deterministic(repo_config: Config) -> None:
    issue = read_issue(EXAMPLE_ISSUE)
    first = render_issue(issue, repo_config).html_source
    assert render_issue(issue, repo_config).html_source == first


def test_doctype_media_queries_and_placeholders_survive_inlining(repo_config: Config) -> None:
    compiled = render_issue(read_issue(EXAMPLE_ISSUE), repo_config)
    source = compiled.html_source
    assert source.lower().startswith("<!doctype html>")
    assert "@media only screen and (min-width: 480px)" in source  # MJML's column widths
    assert "@media only screen and (max-width: 480px)" in source  # our phone rules
    assert "prefers-color-scheme: dark" in source
    assert "!important" in source
    # placeholders come back as Jinja2 expressions, never percent-encoded by premailer
    assert 'href="{{ unsubscribe_url }}"' in source
    assert 'href="{{ preferences_url }}"' in source
    assert "{{%20" not in source and "%7B%7B" not in source
    assert "XQOUTREACH" not in source and "XQOUTREACH" not in compiled.text_source
    # and the CSS was inlined
    assert re.search(r"<h2 style=[^>]*font-family", source)


def test_personal_links_land_in_both_parts(repo_config: Config) -> None:
    links = _links(repo_config)
    mail = render_issue(read_issue(EXAMPLE_ISSUE), repo_config).personalise(SAMPLE_RECIPIENT, links)
    for url in (links.unsubscribe, links.preferences, links.view_online):
        assert f'href="{url}"' in mail.html
        assert url in mail.text
    assert "Hello Ana," in mail.html and "Hello Ana," in mail.text


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", "{{ 7*7 }}", "{% raw %}x", 'Zoë "Z" O\'Brien'])
def test_subscriber_data_is_text_never_code(
    config: Config, write_issue: Callable[..., Path], name: str
) -> None:
    path = write_issue(
        "Dear {{ subscriber.first_name }}, hello.\n", subject='"Hi {{ subscriber.first_name }}"'
    )
    mail = render_issue(read_issue(path), config).personalise(
        Recipient(email="x@example.org", first_name=name), _links(config)
    )
    assert "49" not in mail.html.replace("2026", "")
    assert "<script>alert" not in mail.html
    escaped = (
        name.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )
    assert f"Dear {escaped}, hello." in mail.html
    assert f"Dear {name}, hello." in mail.text
    assert mail.subject == f"Hi {name}"


def test_default_applies_when_the_name_is_missing(config: Config, write_issue: Callable[..., Path]) -> None:
    path = write_issue('Dear {{ subscriber.first_name | default("friend") }},\n')
    mail = render_issue(read_issue(path), config).personalise(
        Recipient(email="x@example.org"), _links(config)
    )
    assert "Dear friend," in mail.html and "Dear friend," in mail.text


def test_literal_braces_in_content_are_not_template_code(
    config: Config, write_issue: Callable[..., Path]
) -> None:
    path = write_issue(
        "Write `{% raw %}` and `{#` as you like; 50% off {nothing}.\n".replace("{% raw %}", "{ %")
    )
    mail = render_issue(read_issue(path), config).personalise(SAMPLE_RECIPIENT, _links(config))
    assert "{#" in mail.html and "{ %" in mail.text


def test_campaign_links_get_utm_only_on_our_site(config: Config, write_issue: Callable[..., Path]) -> None:
    path = write_issue(
        "[ours](https://vaimh.example/a?x=1) [theirs](https://example.org/b)\n", utm_campaign="dec"
    )
    mail = render_issue(read_issue(path), config).personalise(SAMPLE_RECIPIENT, _links(config))
    assert (
        'href="https://vaimh.example/a?x=1&amp;utm_source=newsletter&amp;utm_medium=email'
        '&amp;utm_campaign=dec"' in mail.html
    )
    assert 'href="https://example.org/b"' in mail.html
    assert "https://vaimh.example/a?x=1&utm_source=newsletter" in mail.text


def test_letter_layout_is_plain_but_keeps_the_way_out(
    config: Config, write_issue: Callable[..., Path]
) -> None:
    path = write_issue("Dear {{ subscriber.first_name }},\n\nA personal note.\n", template="letter")
    mail = render_issue(read_issue(path), config).personalise(SAMPLE_RECIPIENT, _links(config))
    assert "Dear Ana," in mail.html and "A personal note." in mail.text
    assert config.organisation.postal_address in mail.text
    assert "kicker" not in mail.html  # no newsletter header band


def test_mjml_error_names_the_template_and_line(
    config: Config, project: Path, write_issue: Callable[..., Path]
) -> None:
    footer = project / "templates" / "partials" / "footer.mjml.j2"
    lines = footer.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if "<mj-column>" in line)
    lines[index] = lines[index].replace("<mj-column>", '<mj-column><mj-include path="../../etc/passwd" />')
    footer.write_text("\n".join(lines) + "\n")
    with pytest.raises(TemplateError) as caught:
        render_issue(read_issue(write_issue()), config)
    assert caught.value.template == "templates/partials/footer.mjml.j2"
    assert caught.value.line == index + 1


def test_jinja_error_in_a_layout_names_template_and_line(
    config: Config, project: Path, write_issue: Callable[..., Path]
) -> None:
    layout = project / "templates" / "newsletter.mjml.j2"
    text = layout.read_text().replace("{{ issue_month }}", "{{ issue_monht }}")
    layout.write_text(text)
    with pytest.raises(TemplateError) as caught:
        render_issue(read_issue(write_issue()), config)
    assert "issue_monht" in str(caught.value)
    assert caught.value.template == "newsletter.mjml.j2"
    assert caught.value.line == next(
        i for i, line in enumerate(text.splitlines(), 1) if "issue_monht" in line
    )


def test_colours_come_from_the_config(project: Path, write_issue: Callable[..., Path]) -> None:
    toml = project / "outreach.toml"
    toml.write_text(toml.read_text().replace('heading = "#1d4e56"', 'heading = "#0a3d2c"'))
    config = load_config(project, environ={})
    mail = render_issue(read_issue(write_issue("## A section\n")), config).personalise(
        SAMPLE_RECIPIENT, _links(config)
    )
    assert re.search(r"<h2 style=[^>]*color:#0a3d2c", mail.html)
