"""Authoring commands: new, render, check, preview."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import typer
from rich.markup import escape

from outreach.checks import CheckReport, run_checks
from outreach.cli.common import RootOption, config_for, console
from outreach.config import Config
from outreach.content import read_issue
from outreach.content.editions import language_of_file
from outreach.content.scaffold import scaffold_issue
from outreach.delivery.message import build_message, envelope_for, message_bytes
from outreach.models import Recipient, Severity
from outreach.operations.diff import diff_issue
from outreach.render import render_issue
from outreach.render.sample import SAMPLE_RECIPIENT
from outreach.tokens import recipient_links


def new(
    title: str = typer.Argument(..., help='The issue\'s title, e.g. "December 2026: Holding the Holidays".'),
    root: Path | None = RootOption,
) -> None:
    """Start a new issue from a commented starter file.

    Example: outreach new "December 2026: Holding the Holidays"
    """
    config = config_for(root)
    path = scaffold_issue(config.path("newsletters"), title, date.today())
    console.print(
        f"Created [bold]{escape(_show(path, config))}[/]. Edit it, then run "
        f"[bold]outreach preview {escape(_show(path, config))}[/]."
    )


def render(
    issue: Path = typer.Argument(..., help="The issue's Markdown file."),
    out: Path = typer.Option(Path("out"), "--out", help="Folder for SLUG.html, SLUG.txt and SLUG.eml."),
    to: str = typer.Option("", "--to", help="Personalise for this address (default: a sample reader)."),
    root: Path | None = RootOption,
) -> None:
    """Render an issue to HTML, text and a complete .eml for one recipient.

    Example: outreach render newsletters/2026-12-holding-the-holidays.md --out out --to me@example.org
    """
    config = config_for(root)
    written = render_files(issue, out, to, config)
    for path in written:
        console.print(f"wrote {path}", markup=False)


def render_files(issue_path: Path, out: Path, to: str, config: Config) -> list[Path]:
    """Render one issue into ``out``; returns the files written."""
    issue = read_issue(issue_path, config.time_zone)
    compiled = render_issue(issue, config)
    recipient = Recipient(email=to, first_name="") if to else SAMPLE_RECIPIENT
    links = recipient_links(config.base_url, config.secret_key, "preview", issue.slug)
    mail = compiled.personalise(recipient, links)
    envelope = envelope_for(issue, config, recipient.email, datetime.now(UTC), recipient.full_name)
    message = build_message(envelope, mail, links, config)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        out / f"{issue.slug}.html": mail.html.encode("utf-8"),
        out / f"{issue.slug}.txt": mail.text.encode("utf-8"),
        out / f"{issue.slug}.eml": message_bytes(message),
    }
    for path, content in files.items():
        path.write_bytes(content)
    return list(files)


def check(
    issue: list[Path] = typer.Argument(None, help="The issue's Markdown file(s); none with --all."),
    all_issues: bool = typer.Option(
        False, "--all", help="Check every issue in newsletters/ and its editions."
    ),
    output: str = typer.Option(
        "text",
        "--format",
        help="text (for people), json, or github (annotations for a pull request's checks).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    no_spam: bool = typer.Option(False, "--no-spam", help="Skip the SpamAssassin score."),
    root: Path | None = RootOption,
) -> None:
    """Check an issue before anyone sees it; exits 1 when there are errors.

    In CI on pull requests: outreach check --all --format github (each finding becomes an annotation
    on the line it is about).

    Example: outreach check newsletters/2026-12-holding-the-holidays.md
    """
    config = config_for(root)
    kind = "json" if as_json else output
    if kind not in ("text", "json", "github"):
        raise typer.BadParameter("use text, json or github", param_hint="--format")
    paths = list(issue or [])
    if all_issues:
        # An edition (slug.es.md) is checked with its issue (slug.md), not a second time on its own.
        found = config.path("newsletters").glob("*.md")
        paths += sorted(p for p in found if p not in paths and language_of_file(p) is None)
    if not paths:
        raise typer.BadParameter("name an issue, or use --all", param_hint="ISSUE")
    reports = [run_checks(path, config, spam=not no_spam) for path in paths]
    if kind == "json":
        body = [r.as_json() for r in reports]
        typer.echo(json.dumps(body[0] if len(body) == 1 and not all_issues else body, indent=2))
    elif kind == "github":
        for report in reports:
            for line in github_annotations(report, config.root):
                typer.echo(line)
    else:
        for report in reports:
            _print_report(report)
    raise typer.Exit(1 if any(r.errors for r in reports) else 0)


def github_annotations(report: CheckReport, root: Path) -> list[str]:
    """Each finding as a GitHub Actions workflow command (``::error file=...,line=...::message``)."""
    lines = []
    for finding in report.findings:
        level = "error" if finding.severity is Severity.ERROR else "warning"
        where = Path(finding.path or report.path)
        with contextlib.suppress(ValueError):
            where = where.resolve().relative_to(root.resolve())
        properties = f"file={_escape_property(str(where))}"
        if finding.line:
            properties += f",line={finding.line}"
        properties += f",title={_escape_property(finding.code)}"
        lines.append(f"::{level} {properties}::{_escape_data(finding.message)}")
    return lines


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def diff(
    issue: Path = typer.Argument(..., help="The issue's Markdown file."),
    old: str = typer.Argument("HEAD", help="The commit to compare with (default: the last commit)."),
    new: str | None = typer.Option(
        None, "--to", help="Compare with this commit instead of the working copy."
    ),
    root: Path | None = RootOption,
) -> None:
    """Show what changed for readers: subject, preheader, links, events and the text part.

    Example: outreach diff newsletters/2026-12-holding-the-holidays.md main
    """
    config = config_for(root)
    for line in diff_issue(config, issue, old, new).lines():
        typer.echo(line)


def _print_report(report: CheckReport) -> None:
    for finding in report.findings:
        colour = "red" if finding.severity is Severity.ERROR else "yellow"
        where = escape(f"{finding.where}: " if finding.where else "")
        console.print(
            f"{where}[{colour}]{finding.severity}[/] [dim]{finding.code}[/] {escape(finding.message)}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
    figures = []
    if report.html_bytes is not None:
        figures.append(f"HTML {report.html_bytes / 1024:.1f} KB")
    if report.spam is not None:
        figures.append(f"SpamAssassin {report.spam.score}")
    elif report.html_bytes is not None and not report.spam_asked:
        figures.append("SpamAssassin skipped (--no-spam)")
    elif report.html_bytes is not None:
        figures.append("SpamAssassin not run (apt-get install spamassassin)")
    verdict = "[red]errors[/]" if report.errors else "[green]ok[/]"
    console.print(
        f"{escape(str(report.path))}: {verdict}: {len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s); {', '.join(figures)}"
    )


def preview(
    issue: Path = typer.Argument(..., help="The issue's Markdown file."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8025, "--port"),
    root: Path | None = RootOption,
) -> None:
    """Serve a live preview (phone and desktop, text part, headers) that reloads on every save.

    An issue written in several languages: name an edition's file to preview that edition.

    Example: outreach preview newsletters/2026-12-holding-the-holidays.md
    Example: outreach preview newsletters/2026-12-holding-the-holidays.es.md
    """
    from outreach.preview import serve_preview

    config = config_for(root)
    console.print(f"Previewing {escape(str(issue))} at [bold]http://{host}:{port}/[/] (Ctrl+C to stop)")
    serve_preview(issue, config, host, port)


def _show(path: Path, config: Config) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def register(app: typer.Typer) -> None:
    for command in (new, render, check, diff, preview):
        app.command()(command)
