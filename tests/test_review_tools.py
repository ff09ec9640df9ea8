"""Tools for reviewing an issue in a pull request: `outreach diff` between commits, and `outreach check
--all --format github` annotations."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from outreach.cli import app
from tests.conftest import TEST_SECRET

runner = CliRunner()
ENV = {"OUTREACH_SECRET_KEY": TEST_SECRET, "COLUMNS": "200"}
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="apt-get install git")

FIRST = """Hello there,

Our winter gathering is coming. Read [the programme](https://vaimh.example/winter).

::: event
title: Winter gathering
starts: 2027-01-14 18:00
where: Richmond Public Library

Light supper and conversation.
:::
"""
SECOND = (
    FIRST.replace("starts: 2027-01-14 18:00", "starts: 2027-01-21 18:00").replace(
        "[the programme](https://vaimh.example/winter)", "[the programme](https://vaimh.example/winter-2027)"
    )
    + "\nPlease bring a friend.\n"
)


def git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Staff", "-c", "user.email=staff@vaimh.example", *args],
        cwd=project,
        check=True,
        capture_output=True,
    )


@needs_git
def test_diff_shows_what_changed_for_readers_between_commits(
    project: Path, write_issue: Callable[..., Path]
) -> None:
    issue = write_issue(FIRST, subject='"Winter news"')
    (project / ".gitignore").write_text(".outreach/\n")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "first draft")
    write_issue(SECOND, subject='"Winter news: a new date"')
    result = runner.invoke(app, ["diff", str(issue), "--root", str(project)], env=ENV)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "comparing commit HEAD with the working copy" in out
    assert "subject: 'Winter news' -> 'Winter news: a new date'" in out
    assert "link removed: https://vaimh.example/winter\n" in out
    assert "link added: https://vaimh.example/winter-2027\n" in out
    assert "event removed: Winter gathering" in out and "2027-01-14 18:00" in out
    assert "event added: Winter gathering" in out and "2027-01-21 18:00" in out
    assert "+Please bring a friend." in out and "--- text part (commit HEAD)" in out
    git(project, "commit", "-qam", "new date")
    between = runner.invoke(
        app, ["diff", str(issue), "HEAD~1", "--to", "HEAD", "--root", str(project)], env=ENV
    )
    assert between.exit_code == 0 and "comparing commit HEAD~1 with commit HEAD" in between.output
    assert "+Please bring a friend." in between.output
    unknown = runner.invoke(app, ["diff", str(issue), "no-such-branch", "--root", str(project)], env=ENV)
    assert unknown.exit_code == 2 and "no-such-branch" in unknown.output and "Traceback" not in unknown.output


def test_check_all_prints_github_annotations_at_the_lines(
    project: Path, write_issue: Callable[..., Path]
) -> None:
    write_issue("Hello.\n\nTODO: ask Maria about the venue, 100% sure\n", name="2026-12-one.md")
    write_issue("All good here, with plenty of words to read.\n", name="2026-12-two.md")
    result = runner.invoke(
        app, ["check", "--all", "--format", "github", "--no-spam", "--root", str(project)], env=ENV
    )
    assert result.exit_code == 1
    lines = result.output.splitlines()
    todo = next(line for line in lines if "leftover-marker" in line)
    assert todo.startswith("::error file=newsletters/2026-12-one.md,line=8,title=leftover-marker::")
    assert "100% sure" not in todo and "100%25 sure" in todo
    assert all(line.startswith(("::error ", "::warning ")) for line in lines)
