"""Every address an author writes goes through one gate: web addresses (and mailto:/tel: for links),
nothing that runs script, embeds data or leaves the scheme to the reader's app."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from outreach.config import Config
from outreach.content import read_issue
from outreach.errors import ContentError
from outreach.render import render_issue
from outreach.render.sample import SAMPLE_RECIPIENT
from outreach.tokens import recipient_links

WriteIssue = Callable[..., Path]

REFUSED = [
    ("Read [the guide](javascript:alert(1)).", "javascript:alert(1)", "a link"),
    ("Read <javascript:alert(1)> now.", "javascript:alert(1)", "a link"),
    ("Read [the guide](&#106;avascript:alert(1)).", "javascript:alert(1)", "a link"),
    ("Read [the guide][ref].\n\n[ref]: javascript:alert(1)", "javascript:alert(1)", "a link"),
    ("Read [the guide][ref].\n\n[ref]: vbscript:msgbox(1)", "vbscript:msgbox(1)", "a link"),
    ("Read [the guide](data:text/html;base64,PHNjcmlwdD4=).", "data:text/html", "a link"),
    ("Read [the guide](//evil.example/guide).", "//evil.example/guide", "a link"),
    ("Read <ftp://files.example/guide.pdf>.", "ftp://files.example/guide.pdf", "a link"),
    ("![A family](data:image/png;base64,iVBORw0KGgo=)", "data:image/png", "an image"),
    ("![A family](//cdn.example/family.jpg)", "//cdn.example/family.jpg", "an image"),
    ("::: button javascript:alert(1)\nRegister\n:::", "javascript:alert(1)", "a button's link"),
    ("::: button //evil.example/register\nRegister\n:::", "//evil.example/register", "a button's link"),
    ("::: button https://vaimh.example\n[Go](javascript:alert(1))\n:::", "javascript:alert(1)", "a link"),
    ("::: event\ntitle: T\nwhen: Soon\nlink: javascript:alert(1)\n:::", "javascript:", "an event's link"),
    ("::: image\nsrc: javascript:alert(1)\nalt: A family\n:::", "javascript:alert(1)", "an image"),
    ("::: image\nsrc: mailto:a@example.org\nalt: A family\n:::", "mailto:a@example.org", "an image"),
    (
        "::: image\nsrc: https://vaimh.example/a.jpg\nalt: A family\nlink: javascript:alert(1)\n:::",
        "javascript:alert(1)",
        "an image's link",
    ),
    ("Visit [your page]({{ subscriber.attributes.site }}).", "subscriber.attributes.site", "a link"),
    ("::: callout Note\nSee [this](javascript:alert(1)).\n:::", "javascript:alert(1)", "a link"),
    (":::: columns\n::: column\n[x](javascript:0)\n:::\n::: column\nB\n:::\n::::", "javascript:", "a link"),
]


@pytest.mark.parametrize(("body", "url", "what"), REFUSED)
def test_unsafe_addresses_are_refused_at_their_line(
    write_issue: WriteIssue, body: str, url: str, what: str
) -> None:
    path = write_issue("Hello.\n\n" + body + "\n")
    with pytest.raises(ContentError) as caught:
        read_issue(path)
    error = caught.value
    assert error.line is not None
    written = path.read_text().splitlines()[error.line - 1]
    # the line that uses the address: where it is written, or where a reference to it is
    assert url in written or "[ref]" in written or "&#106;" in written or "javascript:" in written
    assert error.message.startswith(what)
    assert url in error.message
    assert "https://" in error.message  # says what is allowed


def test_the_link_in_a_long_paragraph_is_reported_on_its_own_line(write_issue: WriteIssue) -> None:
    path = write_issue("Hello.\n\nFirst line of a paragraph\nsecond line\nthird [x](javascript:0) line\n")
    with pytest.raises(ContentError) as caught:
        read_issue(path)
    assert caught.value.line == 10


ALLOWED = (
    "Write to [us](mailto:hello@vaimh.example) or call [the line](tel:+18045550100).\n\n"
    "[Your preferences]({{ preferences_url }}) and <https://vaimh.example/events>.\n\n"
    "::: button {{ view_online_url }}\nRead it online\n:::\n\n"
    "::: image\nsrc: http://vaimh.example/a.jpg\nalt: A family reading\nlink: tel:+18045550100\n:::\n\n"
    "::: event\ntitle: Call-in hour\nwhen: Fridays\nlink: tel:+18045550100\n:::\n"
)


def test_web_mail_and_phone_addresses_reach_the_mail_and_a_script_does_not(
    write_issue: WriteIssue, config: Config
) -> None:
    issue = read_issue(write_issue(ALLOWED))
    links = recipient_links(config.base_url, config.secret_key, "1", issue.slug)
    mail = render_issue(issue, config).personalise(SAMPLE_RECIPIENT, links)
    for href in ("mailto:hello@vaimh.example", "tel:+18045550100", "https://vaimh.example/events"):
        assert f'href="{href}"' in mail.html
    assert f'href="{links.preferences}"' in mail.html and f'href="{links.view_online}"' in mail.html

    path = write_issue(
        ALLOWED.replace("link: tel:+18045550100\n:::\n\n::: event", "link: javascript:0\n:::\n\n::: event")
    )
    with pytest.raises(ContentError, match="an image's link 'javascript:0'"):
        read_issue(path)
