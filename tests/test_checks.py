"""`outreach check`: every check fails on a crafted bad issue and passes on the example.

Each bad issue is written into the throwaway project (``write_issue``) or breaks a copy of the layouts
or settings there (``project``); nothing outside ``tmp_path`` is touched. Every test asserts the
finding's code and, where the finding has one, the exact line of the mistake.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from outreach.checks import CheckReport, run_checks
from outreach.checks.message import CLIP_BYTES, WARN_BYTES
from outreach.cli import app
from outreach.config import Config, load_config
from outreach.models import Finding, Severity
from tests.conftest import EXAMPLE_ISSUE, TEST_SECRET

WriteIssue = Callable[..., Path]

needs_spamassassin = pytest.mark.skipif(
    shutil.which("spamassassin") is None, reason="apt-get install spamassassin"
)


# --- helpers ----------------------------------------------------------------------------------------


def check(path: Path, config: Config, spam: bool = False) -> CheckReport:
    return run_checks(path, config, spam=spam)


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """The 1-based line of the ``nth`` line of ``path`` that contains ``needle``."""
    hits = [n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in text]
    assert len(hits) >= nth, f"{needle!r} is not in {path} {nth} time(s)"
    return hits[nth - 1]


def only(report: CheckReport, code: str) -> list[Finding]:
    """The findings with ``code``, after asserting that there is one and that nothing else was found."""
    found = [f for f in report.findings if f.code == code]
    others = [(f.code, f.line, f.message) for f in report.findings if f.code != code]
    assert found, f"no {code!r} finding; got {others}"
    assert not others, f"expected only {code!r}; also got {others}"
    return found


def located(findings: list[Finding]) -> set[tuple[str, int | None]]:
    return {(f.code, f.line) for f in findings}


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` in a copied layout; fail loudly if the layout no longer holds it."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path.name} no longer holds {old!r} once; update this test"
    path.write_text(text.replace(old, new), encoding="utf-8")


def copy_example(project: Path) -> Path:
    target = project / "newsletters" / EXAMPLE_ISSUE.name
    shutil.copy(EXAMPLE_ISSUE, target)
    return target


def reload(project: Path) -> Config:
    return load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


# --- the good cases -----------------------------------------------------------------------------------


def test_the_example_issue_has_no_errors(project: Path, config: Config) -> None:
    report = check(copy_example(project), config, spam=shutil.which("spamassassin") is not None)
    assert report.errors == [], [str(f.message) for f in report.errors]
    assert report.html_bytes is not None and report.html_bytes < WARN_BYTES
    if shutil.which("spamassassin"):
        assert report.spam_checked and report.spam is not None
        assert report.spam.score < 5.0


def test_the_example_in_the_repository_passes_with_the_repository_settings() -> None:
    config = load_config(EXAMPLE_ISSUE.parent.parent, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})
    report = check(EXAMPLE_ISSUE, config)
    assert report.errors == [], [f.message for f in report.errors]


def test_a_plain_issue_has_no_findings(write_issue: WriteIssue, config: Config) -> None:
    """The baseline every crafted issue below changes in one way only."""
    report = check(write_issue("Hello, and welcome to this month's news.\n"), config)
    assert report.findings == []


# --- front matter -------------------------------------------------------------------------------------


def test_unknown_front_matter_field_names_its_line(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(subjet="Misspelt")
    [finding] = only(check(path, config), "content")
    assert finding.severity is Severity.ERROR
    assert (finding.path, finding.line) == (str(path), line_of(path, "subjet:"))
    assert "'subjet'" in finding.message and "subject" in finding.message


def test_missing_subject(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(raw_front="preheader: A preheader long enough to pass the check\ndate: 2026-12-01")
    [finding] = only(check(path, config), "content")
    assert (finding.path, finding.line) == (str(path), 2)
    assert "'subject' is required" in finding.message


def test_bad_template_value_lists_the_valid_ones(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(template="fancy")
    [finding] = only(check(path, config), "content")
    assert (finding.path, finding.line) == (str(path), line_of(path, "template:"))
    assert "'fancy'" in finding.message
    assert "newsletter" in finding.message and "letter" in finding.message


@pytest.mark.parametrize(
    "raw_front, bad_line",
    [
        ("subject: Holding: the holidays\ndate: 2026-12-01", 2),
        ("subject: ok\npreheader: one: two\ndate: 2026-12-01", 3),
        ("subject: ok\n\tdate: 2026-12-01", 3),
    ],
    ids=["colon-in-value", "colon-on-later-line", "tab-indent"],
)
def test_bad_yaml_names_the_line(
    write_issue: WriteIssue, config: Config, raw_front: str, bad_line: int
) -> None:
    path = write_issue(raw_front=raw_front)
    [finding] = only(check(path, config), "content")
    assert (finding.path, finding.line) == (str(path), bad_line)
    assert "not valid YAML" in finding.message


def test_unclosed_quote_names_the_line_of_the_quote(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(
        raw_front='subject: "Holding the holidays\ndate: 2026-12-01\n'
        "preheader: A preheader long enough to pass the check"
    )
    [finding] = only(check(path, config), "content")
    assert finding.line == line_of(path, 'subject: "')


def test_several_front_matter_mistakes_are_all_listed(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(
        raw_front="template: fancy\nsubjet: Misspelt\nstatus: published\ncolour: blue\ndate: 2026-12-01"
    )
    findings = only(check(path, config), "content")
    assert all(f.path == str(path) and f.severity is Severity.ERROR for f in findings)
    assert located(findings) == {
        ("content", 2),  # subject is required (top of front matter)
        ("content", line_of(path, "subjet:")),  # unknown field
        ("content", line_of(path, "template:")),  # not a layout
        ("content", line_of(path, "status:")),  # not a status
        ("content", line_of(path, "colour:")),  # unknown field
    }
    messages = " | ".join(f.message for f in findings)
    for part in ("'subject' is required", "'subjet'", "'fancy'", "'published'", "'colour'"):
        assert part in messages
    assert len(findings) == 5


def test_front_matter_and_body_mistakes_are_listed_together(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue("Hello.\n\n::: sidebar\nNot a block.\n:::\n", template="fancy")
    findings = only(check(path, config), "content")
    assert located(findings) == {
        ("content", line_of(path, "template:")),
        ("content", line_of(path, "::: sidebar")),
    }


# --- what the body says ---------------------------------------------------------------------------------


def test_unknown_subscriber_field_in_the_body(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue("Hello.\n\nYour colour is {{ subscriber.favourite_colour }}.\n")
    [finding] = only(check(path, config), "unknown-variable")
    assert finding.severity is Severity.ERROR
    assert finding.line == line_of(path, "favourite_colour")
    assert "favourite_colour" in finding.message and "first_name" in finding.message


def test_unknown_variable_in_the_body(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue("Hello.\n\nThe key is {{ secret }}.\n")
    [finding] = only(check(path, config), "unknown-variable")
    assert finding.line == line_of(path, "{{ secret }}")
    assert "'secret'" in finding.message and "preferences_url" in finding.message


def test_unknown_variable_in_the_subject(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(subject='"News for {{ secret }}"')
    [finding] = only(check(path, config), "unknown-variable")
    assert finding.line == line_of(path, "subject:") == 2
    assert "'secret'" in finding.message


def test_known_variables_pass(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(
        'Dear {{ subscriber.first_name | default("friend") }},\n\n'
        "[Your preferences]({{ preferences_url }}).\n",
        subject='"News for {{ subscriber.first_name }}"',
    )
    assert check(path, config).findings == []


def test_images_without_alt(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(
        "Hello.\n\n![](https://vaimh.example/a.jpg)\n\n"
        "::: image\nsrc: https://vaimh.example/b.jpg\ncaption: A caption\n:::\n"
    )
    findings = only(check(path, config), "image-alt")
    assert located(findings) == {
        ("image-alt", line_of(path, "a.jpg")),
        ("image-alt", line_of(path, "::: image")),
    }
    assert all(f.severity is Severity.ERROR for f in findings)


@pytest.mark.parametrize(
    "link, code",
    [
        ("[the report](/relative)", "link-not-absolute"),
        ("[the report](www.example.org)", "link-not-absolute"),
        ("[the report](http://localhost:8000/x)", "link-localhost"),
        ("[the report](http://127.0.0.1/x)", "link-localhost"),
        ("[click here](https://vaimh.example/report)", "link-text"),
        ("[here](https://vaimh.example/report)", "link-text"),
        ("[Click here!](https://vaimh.example/report)", "link-text"),
    ],
)
def test_bad_links(write_issue: WriteIssue, config: Config, link: str, code: str) -> None:
    path = write_issue(f"Hello.\n\nSome news first.\n\nRead {link} before the training.\n")
    [finding] = only(check(path, config), code)
    assert finding.severity is Severity.ERROR
    assert finding.line == line_of(path, link)


def test_bad_link_in_a_button(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue("Hello.\n\n::: button http://localhost:8000/register\nRegister now\n:::\n")
    [finding] = only(check(path, config), "link-localhost")
    assert finding.line == line_of(path, "::: button")


def test_leftover_markers_with_their_lines(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(
        "Hello.\n\nTODO: write the training paragraph\n\nThe venue is TK.\n\n"
        "Atkinson and todo are ordinary words.\n"
    )
    findings = only(check(path, config), "leftover-marker")
    assert located(findings) == {
        ("leftover-marker", line_of(path, "TODO:")),
        ("leftover-marker", line_of(path, "venue is TK")),
    }


def test_leftover_marker_in_the_subject(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(subject="TODO a better subject")
    [finding] = only(check(path, config), "leftover-marker")
    assert finding.line == 2


def test_long_subject_warns(write_issue: WriteIssue, config: Config) -> None:
    assert check(write_issue(subject="s" * 78), config).findings == []
    path = write_issue(subject="s" * 79)
    [finding] = only(check(path, config), "subject-long")
    assert finding.severity is Severity.WARNING
    assert finding.line == line_of(path, "subject:")


def test_empty_subject(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(subject='""')
    [finding] = only(check(path, config), "subject-empty")
    assert finding.severity is Severity.ERROR
    assert finding.line == line_of(path, "subject:")


def test_missing_preheader(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue(raw_front="subject: A test issue\ndate: 2026-12-01")
    [finding] = only(check(path, config), "preheader-missing")
    assert finding.severity is Severity.WARNING
    assert finding.line == 2


def test_long_preheader(write_issue: WriteIssue, config: Config) -> None:
    assert check(write_issue(preheader="p" * 140), config).findings == []
    path = write_issue(preheader="p" * 141)
    [finding] = only(check(path, config), "preheader-long")
    assert finding.severity is Severity.WARNING
    assert finding.line == line_of(path, "preheader:")


def test_h1_in_the_body_is_a_section_not_an_error(write_issue: WriteIssue, config: Config) -> None:
    """Authors write '#': the body's headings move under the issue's title, and nothing is reported."""
    path = write_issue("# Hello, {{ subscriber.first_name }}!\n\nText.\n\n## A part\n\nMore.\n")
    assert check(path, config).findings == []


def test_skipped_heading_level_in_a_body_with_h1_names_the_right_marks(
    write_issue: WriteIssue, config: Config
) -> None:
    path = write_issue("# Section\n\nText.\n\n### Too deep\n\nMore text.\n")
    [finding] = only(check(path, config), "heading-order")
    assert finding.severity is Severity.WARNING
    assert finding.line == line_of(path, "### Too deep")
    assert "use ##" in finding.message and "use ###" not in finding.message


def test_skipped_heading_level_warns(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue("## Section\n\nText.\n\n#### Too deep\n\nMore text.\n")
    [finding] = only(check(path, config), "heading-order")
    assert finding.severity is Severity.WARNING
    assert finding.line == line_of(path, "#### Too deep")


# --- the size of the final HTML -------------------------------------------------------------------------


def _long_body(paragraphs: int) -> str:
    """Distinct paragraphs (no repeated text), so nothing could shrink them."""
    return (
        "\n\n".join(
            f"Paragraph {n}: home visit number {n * 7919 % 10007} covered sleep, feeding and play; "
            f"the family in region {n * 104729 % 997} asked about routine {n} and reading together, "
            f"and the visitor shared guide {n * 31 % 211} on attachment, crying and calm evenings."
            for n in range(paragraphs)
        )
        + "\n"
    )


def _issue_of_size(write_issue: WriteIssue, config: Config, target: int) -> CheckReport:
    """Write an issue whose HTML is close to ``target`` bytes (fitted on two sizes, so layout
    changes do not break the test) and return its report."""
    sizes = {}
    for n in (10, 40):
        report = check(write_issue(_long_body(n)), config)
        assert report.html_bytes is not None
        sizes[n] = report.html_bytes
    per_paragraph = (sizes[40] - sizes[10]) / 30
    paragraphs = round(10 + (target - sizes[10]) / per_paragraph)
    return check(write_issue(_long_body(paragraphs)), config)


def test_html_close_to_gmail_clipping_warns(write_issue: WriteIssue, config: Config) -> None:
    report = _issue_of_size(write_issue, config, (WARN_BYTES + CLIP_BYTES) // 2)
    assert report.html_bytes is not None and WARN_BYTES <= report.html_bytes <= CLIP_BYTES
    [finding] = only(report, "html-size")
    assert finding.severity is Severity.WARNING


def test_html_over_102_kb_is_an_error(write_issue: WriteIssue, config: Config) -> None:
    report = _issue_of_size(write_issue, config, CLIP_BYTES + 12 * 1024)
    assert report.html_bytes is not None and report.html_bytes > CLIP_BYTES
    [finding] = only(report, "html-size")
    assert finding.severity is Severity.ERROR
    assert "102 KB" in finding.message


# --- what the layout must carry (broken copies in the temp project) ------------------------------------


@pytest.mark.parametrize(
    "template, old, code",
    [
        (
            "partials/footer.mjml.j2",
            '<a href="{{ links.unsubscribe }}">{% trans %}Unsubscribe{% endtrans %}</a>',
            "missing-unsubscribe",
        ),
        (
            "partials/footer.txt.j2",
            "{% trans %}Unsubscribe{% endtrans %}: {{ links.unsubscribe }}",
            "missing-unsubscribe",
        ),
        (
            "partials/footer.mjml.j2",
            '<a href="{{ links.preferences }}">{% trans %}Update your preferences{% endtrans %}</a>',
            "missing-preferences",
        ),
        (
            "partials/footer.txt.j2",
            "{% trans %}Update your preferences{% endtrans %}: {{ links.preferences }}",
            "missing-preferences",
        ),
        ("partials/footer.mjml.j2", "{{ org.postal_address }}", "missing-address"),
        ("partials/footer.txt.j2", "{{ org.postal_address }}", "missing-address"),
    ],
    ids=[
        "unsubscribe-html",
        "unsubscribe-text",
        "preferences-html",
        "preferences-text",
        "address-html",
        "address-text",
    ],
)
def test_layout_without_the_way_out(
    project: Path, write_issue: WriteIssue, template: str, old: str, code: str
) -> None:
    edit(project / "templates" / template, old, "")
    path = write_issue()
    [finding] = only(check(path, reload(project)), code)
    assert finding.severity is Severity.ERROR
    part = "HTML" if template.endswith(".mjml.j2") else "text"
    assert f"{part} part" in finding.message


def test_layout_without_lang(project: Path, write_issue: WriteIssue) -> None:
    edit(project / "templates" / "newsletter.mjml.j2", '<mjml lang="{{ issue.language }}">', "<mjml>")
    [finding] = only(check(write_issue(), reload(project)), "missing-lang")
    assert finding.severity is Severity.ERROR


def test_layout_without_title(project: Path, write_issue: WriteIssue) -> None:
    edit(project / "templates" / "partials" / "head.mjml.j2", "<mj-title>{{ title }}</mj-title>", "")
    [finding] = only(check(write_issue(), reload(project)), "missing-title")
    assert finding.severity is Severity.ERROR


def test_text_part_that_is_a_stub(project: Path) -> None:
    (project / "templates" / "newsletter.txt.j2").write_text(
        "View this email in your browser: {{ links.view_online }}\n", encoding="utf-8"
    )
    report = check(copy_example(project), reload(project))
    stub = [f for f in report.findings if f.code == "text-stub"]
    assert len(stub) == 1 and stub[0].severity is Severity.ERROR
    # The stub also lost the footer, and each loss is reported for the text part.
    assert {f.code for f in report.findings} == {
        "text-stub",
        "missing-unsubscribe",
        "missing-preferences",
        "missing-address",
    }
    assert all("text part" in f.message for f in report.findings if f.code != "text-stub")


def test_low_contrast_brand_colour(project: Path, write_issue: WriteIssue) -> None:
    edit(project / "outreach.toml", '\ntext = "#26323a"', '\ntext = "#bbbbbb"')
    [finding] = only(check(write_issue(), reload(project)), "contrast")
    assert finding.severity is Severity.ERROR
    assert finding.path == str(project / "outreach.toml")
    assert "#bbbbbb" in finding.message and "body text" in finding.message


def test_low_contrast_dark_mode_colour(project: Path, write_issue: WriteIssue) -> None:
    edit(project / "outreach.toml", "[brand]\n", '[brand]\ndark_text = "#3a3a3a"\n')
    [finding] = only(check(write_issue(), reload(project)), "contrast")
    assert "dark mode" in finding.message and "#3a3a3a" in finding.message


# --- SpamAssassin -----------------------------------------------------------------------------------------

SPAMMY_BODY = """Dear friend,

FREE MONEY!!! WIN CASH NOW. 100% FREE, NO RISK, act now! Limited time offer!!!

Buy cheap VIAGRA and CIALIS online, no prescription needed. Lose weight fast, 100% guaranteed.
Earn $$$ from home, make money fast, double your income, you have been selected as a WINNER.

This is not spam. Claim your prize today. Risk free! Order now! Call now!
Get paid to work from home, be your own boss, eliminate debt, lowest mortgage rates.

::: button https://vaimh.example/claim
CLAIM YOUR FREE CASH PRIZE NOW!!!
:::
"""


@needs_spamassassin
@pytest.mark.spamassassin
def test_spammy_issue_scores_high(project: Path, write_issue: WriteIssue, config: Config) -> None:
    example = check(copy_example(project), config, spam=True)
    assert example.spam is not None
    path = write_issue(
        SPAMMY_BODY,
        name="2026-12-spam.md",
        subject='"FREE!!! WIN CASH NOW!!! 100% FREE VIAGRA $$$"',
        preheader='"Act now, limited time offer, claim your free cash prize today"',
    )
    report = check(path, config, spam=True)
    assert report.spam_checked and report.spam is not None
    assert report.spam.score > example.spam.score
    spam_findings = [f for f in report.findings if f.code == "spam-score"]
    if report.spam.score >= 5.0:
        assert [f.severity for f in spam_findings] == [Severity.ERROR]
        assert report.as_json()["spam_score"] == report.spam.score
    else:  # the installed rules may score less; the score must still be computed and higher
        assert all(f.severity is Severity.WARNING for f in spam_findings)


def test_spam_is_not_scored_when_turned_off(write_issue: WriteIssue, config: Config) -> None:
    report = check(write_issue(SPAMMY_BODY), config, spam=False)
    assert report.spam is None and not report.spam_checked
    assert not [f for f in report.findings if f.code == "spam-score"]


# --- the command ----------------------------------------------------------------------------------------


def run_cli(project: Path, path: Path, *extra: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(
        app,
        ["check", str(path), "--root", str(project), "--json", *extra],
        env={"OUTREACH_SECRET_KEY": TEST_SECRET},
    )
    try:
        document = json.loads(result.stdout)
    except json.JSONDecodeError:  # pragma: no cover - shows what was printed
        pytest.fail(f"not JSON (exit {result.exit_code}): {result.output!r} {result.exception!r}")
    return result.exit_code, document


def test_cli_json_for_the_example_exits_0(project: Path) -> None:
    code, document = run_cli(project, copy_example(project))
    assert code == 0
    assert document["ok"] is True
    assert isinstance(document["findings"], list)
    assert not [f for f in document["findings"] if f["severity"] == "error"]
    assert document["errors"] == 0
    assert isinstance(document["html_bytes"], int)


def test_cli_json_for_a_bad_issue_exits_1(project: Path, write_issue: WriteIssue) -> None:
    path = write_issue("Hello.\n\nTODO: finish\n\nSee [here](/relative).\n")
    code, document = run_cli(project, path, "--no-spam")
    assert code == 1
    assert document["ok"] is False
    findings = document["findings"]
    assert isinstance(findings, list)
    got = {(f["code"], f["line"]) for f in findings}
    assert got == {
        ("leftover-marker", line_of(path, "TODO")),
        ("link-not-absolute", line_of(path, "[here]")),
        ("link-text", line_of(path, "[here]")),
    }
    assert all(f["path"] == str(path) and f["severity"] == "error" and f["message"] for f in findings)
    assert document["errors"] == 3


def test_cli_json_lists_every_front_matter_mistake(project: Path, write_issue: WriteIssue) -> None:
    path = write_issue(raw_front="template: fancy\nsubjet: Misspelt\ndate: 2026-12-01")
    code, document = run_cli(project, path, "--no-spam")
    assert code == 1 and document["ok"] is False
    findings = document["findings"]
    assert isinstance(findings, list)
    assert {(f["code"], f["line"]) for f in findings} == {
        ("content", 2),
        ("content", line_of(path, "subjet:")),
        ("content", line_of(path, "template:")),
    }


def test_cli_check_of_a_missing_file_exits_1(project: Path) -> None:
    code, document = run_cli(project, project / "newsletters" / "nope.md", "--no-spam")
    assert code == 1 and document["ok"] is False
    findings = document["findings"]
    assert isinstance(findings, list) and [f["code"] for f in findings] == ["content"]


def test_raw_html_in_the_body_is_flagged_where_it_is(write_issue: WriteIssue, config: Config) -> None:
    path = write_issue("Fine text.\n\nWith warm regards,<br>\nThe team\n\n`<code>` in backticks is fine\n")
    [finding] = only(check(path, config), "raw-html")
    assert finding.severity is Severity.WARNING
    assert finding.line == line_of(path, "<br>")
    assert "<br>" in finding.message


def test_unknown_topics_and_segments_are_named_with_the_valid_ones(
    write_issue: WriteIssue, config: Config
) -> None:
    path = write_issue(
        raw_front=(
            "subject: A test issue\npreheader: A preheader long enough to pass the check\n"
            "date: 2026-12-01\naudience:\n  topics: [monthly-newsleter]\n  segments: [provders, all]"
        )
    )
    findings = only(check(path, config), "audience")
    assert len(findings) == 2
    assert all(f.line == line_of(path, "audience:") for f in findings)
    topic, segment = sorted(findings, key=lambda f: f.message)
    assert "unknown segment 'provders'" in topic.message or "unknown segment 'provders'" in segment.message
    assert any("did you mean 'monthly-newsletter'" in f.message for f in findings)
    assert any("known:" in f.message and "clinicians-hampton-roads" in f.message for f in findings)


def test_a_segment_naming_a_role_the_site_does_not_have_fails_check_at_its_line(
    write_issue: WriteIssue, config: Config
) -> None:
    segments = config.path("lists") / "segments.yaml"
    segments.write_text(segments.read_text().replace("role: home-visitor", "role: home-visiter"))
    path = write_issue(
        raw_front=(
            "subject: A test issue\npreheader: A preheader long enough to pass the check\n"
            "date: 2026-12-01\naudience:\n  topics: [monthly-newsletter]"
        )
    )
    [finding] = only(check(path, config), "audience")
    assert finding.severity is Severity.ERROR
    assert "home-visiter" in finding.message and "home-visitor" in finding.message
    assert "segments.yaml:" in finding.message
