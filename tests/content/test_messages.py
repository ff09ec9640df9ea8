"""Mistakes staff make are one ``path:line`` message with what to do, never a traceback or an echo of
the issue: a filter typo, a brace left open, a date that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from outreach.checks import run_checks
from outreach.cli import main
from outreach.config import Config
from outreach.content import read_issue
from outreach.errors import ContentError
from tests.conftest import TEST_SECRET

WriteIssue = Callable[..., Path]
BODY_LINE = 6  # write_issue's front matter takes lines 1-5


def _line(path: Path, needle: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


def _error(path: Path) -> ContentError:
    with pytest.raises(ContentError) as caught:
        read_issue(path)
    return caught.value


def test_a_filter_typo_names_the_closest_filter(write_issue: WriteIssue) -> None:
    path = write_issue('Hello.\n\nDear {{ subscriber.first_name | defualt("friend") }},\n')
    error = _error(path)
    assert error.line == _line(path, "defualt")
    assert "unknown filter 'defualt' (did you mean 'default'?)" in error.message
    assert "filters you can use: " in error.message and "upper" in error.message


def test_a_filter_given_the_wrong_value_is_reported_before_any_mail(write_issue: WriteIssue) -> None:
    path = write_issue("Hello {{ subscriber.first_name | truncate('five') }}.\n")
    error = _error(path)
    assert error.line == _line(path, "truncate")
    assert "fails when a mail is personalised" in error.message


BRACE = "Dear {{ subscriber.first_name },\n\n" + "".join(
    f"Paragraph {n} of the issue, with a few words.\n\n" for n in range(85)
)


def test_a_brace_left_open_names_its_line_and_never_echoes_the_issue(write_issue: WriteIssue) -> None:
    path = write_issue(BRACE + "Bye {{ subscriber.first_name }}.\n")
    error = _error(path)
    assert error.line == _line(path, "Dear {{")
    assert "'{{' is never closed" in error.message
    assert "Paragraph" not in error.message and len(error.message) < 200


def test_a_brace_left_open_at_the_end_of_the_issue(write_issue: WriteIssue) -> None:
    path = write_issue(BRACE)
    error = _error(path)
    assert error.line == _line(path, "Dear {{") and "Paragraph" not in error.message


def test_a_brace_left_open_in_the_subject(write_issue: WriteIssue) -> None:
    path = write_issue(subject='"News for {{ subscriber.first_name }"')
    error = _error(path)
    assert error.line == _line(path, "subject:") and "never closed" in error.message


def test_lines_stay_right_after_many_expressions(write_issue: WriteIssue) -> None:
    body = "".join(f"Line {n}: {{{{ subscriber.first_name }}}}\n\n" for n in range(50)) + "{{ joiner }}\n"
    path = write_issue(body)
    assert _error(path).line == _line(path, "{{ joiner }}")


@pytest.mark.parametrize(
    ("field", "value", "form"),
    [
        ("date", "2027-13-45", "YYYY-MM-DD, like 2026-12-01"),
        ("date", "2027-02-30", "YYYY-MM-DD, like 2026-12-01"),
        ("send_at", "2027-13-45 09:00", "YYYY-MM-DD HH:MM, like 2026-12-01 09:00"),
        ("date", "next tuesday", "YYYY-MM-DD, like 2026-12-01"),
    ],
)
def test_an_impossible_date_names_the_field_its_line_and_the_form(
    write_issue: WriteIssue, config: Config, field: str, value: str, form: str
) -> None:
    path = write_issue(**{field: value})
    error = _error(path)
    assert error.line == _line(path, f"{field}:")
    assert f"'{field}'" in error.message and value in error.message and form in error.message
    [finding] = run_checks(path, config, spam=False).errors
    assert (finding.code, finding.line) == ("content", _line(path, f"{field}:"))


def test_an_impossible_event_start_names_its_own_line(write_issue: WriteIssue) -> None:
    path = write_issue("Hello.\n\n::: event\ntitle: Winter gathering\nstarts: 2027-13-45 10:00\n:::\n")
    error = _error(path)
    assert error.line == _line(path, "starts:")
    assert "'starts: 2027-13-45 10:00' is not a real date and time" in error.message
    assert "YYYY-MM-DD HH:MM" in error.message


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ('Dear {{ subscriber.first_name | defualt("friend") }},\n', 0),
        (BRACE, 0),
        ("Hi {{ ''.__class__ }}\n", 0),
        ("::: event\ntitle: T\nstarts: 2027-13-45 10:00\n:::\n", 2),
    ],
)
@pytest.mark.parametrize(("command", "status"), [("check", 1), ("render", 2)])
def test_the_cli_prints_one_located_line_and_no_traceback(
    project: Path,
    write_issue: WriteIssue,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    body: str,
    line: int,
    command: str,
    status: int,
) -> None:
    monkeypatch.setenv("OUTREACH_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("COLUMNS", "400")
    path = write_issue(body)
    extra = ["--no-spam"] if command == "check" else ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exited:
        main([command, str(path), "--root", str(project), *extra])
    assert exited.value.code == status
    printed = capsys.readouterr()
    output = printed.out + printed.err
    assert "Traceback" not in output and "Paragraph 3" not in output
    assert f"{path}:{BODY_LINE + line}: " in output
    assert not (tmp_path / "out").exists()
