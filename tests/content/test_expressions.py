"""Issue expressions cannot run code: the known Jinja2 sandbox escapes, refused at every step.

Each escape is refused when the issue is read (so ``outreach render`` and ``outreach send`` stop with a
``path:line`` message), reported by ``outreach check`` as an error at its line, and refused by the
per-recipient templates themselves (a campaign row written by anything else is checked as well). None
of them may run: the sentinel ``<class`` that Python prints for a class never reaches a mail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from outreach.checks import run_checks
from outreach.config import Config
from outreach.content import read_issue
from outreach.errors import ContentError, TemplateError
from outreach.models import Recipient, Severity
from outreach.render import personal, render_issue
from outreach.render.personal import PersonalTemplates
from outreach.tokens import recipient_links
from tests.conftest import TEST_SECRET

ESCAPES = [
    "''.__class__.__mro__[1].__subclasses__()",
    "''.__class__.__mro__[1]",
    "cycler.__init__.__globals__",
    "lipsum.__globals__",
    "joiner",
    "joiner()",
    "namespace",
    "namespace(x=1)",
    "self._TemplateReference__context",
    "subscriber | attr('__class__')",
    "'{0.__class__}'.format(subscriber)",
    "'{0.__class__}'.format_map(subscriber)",
    "range(10**9)",
    "'a' * 10**9",
    "subscriber.first_name * 100000000",
    "subscriber['__class__']",
    "subscriber.email.__len__",
]

WriteIssue = Callable[..., Path]


def _line(path: Path, needle: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


@pytest.mark.parametrize("escape", ESCAPES)
def test_reading_an_issue_refuses_the_escape_at_its_line(write_issue: WriteIssue, escape: str) -> None:
    path = write_issue(f"Hello.\n\nA field: {{{{ {escape} }}}}\n")
    with pytest.raises(ContentError) as caught:
        read_issue(path)
    assert str(caught.value).startswith(f"{path}:{_line(path, 'A field')}: ")
    assert "Traceback" not in str(caught.value) and "<class" not in str(caught.value)


@pytest.mark.parametrize("escape", ESCAPES)
def test_check_reports_the_escape_as_an_error_at_its_line(
    write_issue: WriteIssue, config: Config, escape: str
) -> None:
    path = write_issue(f"Hello.\n\nA field: {{{{ {escape} }}}}\n")
    report = run_checks(path, config, spam=False)
    [finding] = report.errors
    assert (finding.code, finding.severity) == ("content", Severity.ERROR)
    assert finding.line == _line(path, "A field")
    assert report.html_bytes is None  # nothing was rendered


@pytest.mark.parametrize("escape", ["''.__class__.__mro__", "cycler.__init__.__globals__", "joiner"])
@pytest.mark.parametrize("field", ["subject", "title"])
def test_the_subject_and_title_are_held_to_the_same_rules(
    write_issue: WriteIssue, escape: str, field: str
) -> None:
    path = write_issue(**{field: f'"News {{{{ {escape} }}}}"'})
    with pytest.raises(ContentError) as caught:
        read_issue(path)
    assert str(caught.value).startswith(f"{path}:{_line(path, field + ':')}: ")


@pytest.mark.parametrize("escape", ESCAPES)
@pytest.mark.parametrize("part", ["subject", "html", "text"])
def test_a_stored_template_with_an_escape_is_refused_before_any_recipient(escape: str, part: str) -> None:
    """A campaign row holds the templates; one that did not come from read_issue is checked alike."""
    sources = {"subject": "News", "html": "<p>Hello</p>", "text": "Hello"}
    sources[part] += f" {{{{ {escape} }}}}"
    with pytest.raises(TemplateError, match="not allowed"):
        PersonalTemplates(**sources)


@pytest.mark.parametrize(
    "escape",
    [
        "''.__class__.__mro__[1].__subclasses__()",
        "cycler.__init__.__globals__",
        "lipsum.__globals__",
        "self._TemplateReference__context",
        "'{0.__class__}'.format(subscriber)",
        "'{0.__class__}'.format_map(subscriber)",
        "'a' * 10**9",
        "range(10**9)",
        "namespace(x=1)",
        "subscriber | attr('__class__')",
    ],
)
def test_the_sandbox_holds_even_if_the_check_were_skipped(
    monkeypatch: pytest.MonkeyPatch, escape: str
) -> None:
    """Defence in depth: with the template check switched off, the sandbox refuses or shows nothing;
    no Python object, class or computed value ever reaches the mail."""
    monkeypatch.setattr(personal, "check_template", lambda source, env: env.parse(source))
    try:
        templates = PersonalTemplates("News", f"<p>{{{{ {escape} }}}}</p>", "x")
        links = recipient_links("https://vaimh.example", TEST_SECRET, "1", "x")
        html = templates.render(Recipient(email="a@example.org", first_name="Ana"), links).html
    except TemplateError:
        return
    assert html == "<p></p>"


def test_allowed_expressions_personalise_and_one_escape_stops_the_issue(
    write_issue: WriteIssue, config: Config
) -> None:
    body = (
        "Hello {{ subscriber.first_name | default('there') | title }},\n\n"
        "{{ 'Dear colleague' if subscriber.role == 'clinician' else 'Hi' }} "
        "{{ subscriber.attributes.county | default('Virginia') }} "
        "{{ subscriber.email | urlencode }} {{ subscriber.last_name | truncate(3, true, '') }}\n"
    )
    path = write_issue(body, subject="\"News for {{ subscriber.first_name | default('you') | upper }}\"")
    mail = render_issue(read_issue(path), config).personalise(
        Recipient(email="a b@example.org", first_name="ana", role="clinician", last_name="Rivera"),
        recipient_links(config.base_url, config.secret_key, "1", path.stem),
    )
    assert "Hello Ana," in mail.text
    assert "Dear colleague Virginia a%20b%40example.org Riv" in mail.text
    assert mail.subject == "News for ANA"

    path = write_issue(body + "\n{{ subscriber.first_name.__class__ }}\n")
    with pytest.raises(ContentError, match="internal names"):
        read_issue(path)
