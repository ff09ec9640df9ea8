"""Authoring commands: new, render, check, preview."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import typer
from rich.markup import escape

from outreach.checks import CheckReport, run_checks
from outreach.cli.common import RootOption, config_for, console
from outreach.config import Config
from outreach.content import read_issue
from outreach.content.scaffold import scaffold_issue
from outreach.delivery.message import build_message, envelope_for, message_bytes
from outreach.models import Recipient, Severity
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
    issue: Path = typer.Argument(..., help="The issue's Markdown file."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    no_spam: bool = typer.Option(False, "--no-spam", help="Skip the SpamAssassin score."),
    root: Path | None = RootOption,
) -> None:
    """Check an issue before anyone sees it; exits 1 when there are errors.

    Example: outreach check newsletters/2026-12-holding-the-holidays.md
    """
    config = config_for(root)
    report = run_checks(issue, config, spam=not no_spam)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        _print_report(report)
    raise typer.Exit(1 if report.errors else 0)


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

    Example: outreach preview newsletters/2026-12-holding-the-holidays.md
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
    for command in (new, render, check, preview):
        app.command()(command)
