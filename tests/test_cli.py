"""The command line: every command documented with an example, files written, errors as one line."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from outreach.cli import app
from tests.conftest import EXAMPLE_ISSUE, TEST_SECRET
from tests.delivery.subprocess_project import CLI

runner = CliRunner()
ENV = {"OUTREACH_SECRET_KEY": TEST_SECRET}


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf command (typer may ship its own click, so go by shape, not class)."""
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _commands(command, f"{prefix}{name} ")
        else:
            found.append((f"{prefix}{name}", command))
    return found


def test_every_command_has_an_example() -> None:
    root = get_command(app)
    commands = _commands(root)
    assert {"new", "render", "check", "preview"} <= {name for name, _ in commands}
    missing = [name for name, command in commands if "Example:" not in (command.help or "")]
    assert not missing, f"commands without an 'Example:' in their help: {missing}"


def test_new_writes_a_starter_issue(project: Path) -> None:
    result = runner.invoke(
        app, ["new", "December 2026: Holding the Holidays", "--root", str(project)], env=ENV
    )
    assert result.exit_code == 0, result.output
    path = project / "newsletters" / "2026-12-holding-the-holidays.md"
    assert path.is_file()
    assert 'subject: "Holding the Holidays"' in path.read_text()


def test_render_writes_html_text_and_a_complete_eml(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "render",
            str(EXAMPLE_ISSUE),
            "--out",
            str(out),
            "--to",
            "reader@example.org",
            "--root",
            str(project),
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    slug = EXAMPLE_ISSUE.stem
    assert (out / f"{slug}.html").read_text().lower().startswith("<!doctype html>")
    assert "Hello there," in (out / f"{slug}.txt").read_text()
    raw = (out / f"{slug}.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == "reader@example.org"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<https://news.vaimh.example/u/")
    assert message["Message-ID"].endswith("@vaimh.example>")
    assert message["List-Id"] == "VAIMH News <news.vaimh.example>"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert b"=?utf-8?" not in raw.split(b"List-Unsubscribe:")[1].split(b"\r\n")[0]


def test_content_error_is_one_red_line_without_traceback(
    project: Path, write_issue: Callable[..., Path]
) -> None:
    path = write_issue(raw_front="subjet: Oops")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from outreach.cli import main; main()",
            "render",
            str(path),
            "--root",
            str(project),
        ],
        capture_output=True,
        text=True,
        env={**ENV, "PATH": "/usr/bin"},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:2: unknown field 'subjet'" in " ".join(result.stderr.split())


def test_config_error_names_the_key(project: Path, write_issue: Callable[..., Path]) -> None:
    toml = project / "outreach.toml"
    toml.write_text(toml.read_text().replace('text = "#26323a"', 'text = "dark grey"'))
    result = runner.invoke(app, ["render", str(write_issue()), "--root", str(project)], env=ENV)
    assert result.exit_code != 0
    assert "[brand.text]" in str(result.exception) or "[brand.text]" in result.output


@pytest.mark.parametrize("mistake", ["[organisation]\nnmae = 'x'", "[transport]\nbackend='smtp'"])
def test_unknown_config_keys_are_refused(project: Path, mistake: str) -> None:
    from outreach.config import load_config
    from outreach.errors import ConfigError

    toml = project / "outreach.toml"
    toml.write_text(
        toml.read_text().replace("[organisation]", mistake.split("\n")[0], 1)
        if "nmae" in mistake
        else toml.read_text() + "\n" + mistake + "\n"
    )
    if "nmae" in mistake:
        toml.write_text(toml.read_text().replace('name = "Virginia', "nmae = 'x'\nname = \"Virginia", 1))
    with pytest.raises(ConfigError, match="is not a setting outreach knows"):
        load_config(project, environ={})


def test_demo_runs_the_main_job_end_to_end(project: Path) -> None:
    import shutil

    shutil.copy(EXAMPLE_ISSUE, project / "newsletters" / EXAMPLE_ISSUE.name)
    result = runner.invoke(app, ["demo", "--root", str(project)], env=ENV)
    assert result.exit_code == 0, result.output
    messages = list((project / "demo" / "outbox" / "new").iterdir())
    assert len(messages) >= 100  # the example members in the issue's audience
    assert "300 sent" in result.output.replace("\n", " ") or f"{len(messages)} sent" in result.output
    first = email.message_from_bytes(messages[0].read_bytes(), policy=email.policy.default)
    assert first["Subject"] == "Holding the holidays: first relationships in a busy season"
    assert (project / "demo" / "rendered" / f"{EXAMPLE_ISSUE.stem}.html").is_file()
    # a second run starts afresh and sends again (its own demo database), never touching outreach.db
    again = runner.invoke(app, ["demo", "--root", str(project)], env=ENV)
    assert again.exit_code == 0, again.output
    assert len(list((project / "demo" / "outbox" / "new").iterdir())) == len(messages)
    assert not (project / "outreach.db").exists()


def _groups(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = [(prefix.strip() or "outreach", group)]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _groups(command, f"{prefix}{name} ")
    return found


def test_the_top_level_and_every_group_help_has_an_example() -> None:
    missing = [name for name, group in _groups(get_command(app)) if "Example:" not in (group.help or "")]
    assert not missing, f"groups without an 'Example:' in their help: {missing}"


def test_check_messages_with_brackets_are_printed_as_written(
    project: Path, write_issue: Callable[..., Path]
) -> None:
    issue = write_issue("TODO: ask [Maria] about [/x] the venue\n")
    result = runner.invoke(app, ["check", str(issue), "--no-spam", "--root", str(project)], env=ENV)
    assert result.exit_code == 1
    assert "TODO: ask [Maria] about [/x] the venue" in result.output


def test_piped_output_keeps_long_lines_whole(project: Path, tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "out"
    done = subprocess.run(
        [*CLI, "render", str(EXAMPLE_ISSUE), "--out", str(deep), "--root", str(project)],
        env={"OUTREACH_SECRET_KEY": TEST_SECRET, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {deep / '2026-12-holding-the-holidays.html'}\n" in done.stdout
