"""``outreach demo``: the main job end to end on the example content, for a first run."""

from __future__ import annotations

from pathlib import Path

import typer

from outreach.checks import run_checks
from outreach.cli.authoring import render_files
from outreach.cli.common import RootOption, config_for, console

EXAMPLE = Path("newsletters") / "2026-12-holding-the-holidays.md"


def demo(
    issue: Path = typer.Argument(EXAMPLE, help="The issue to run through (default: the example issue)."),
    out: Path = typer.Option(Path("out"), "--out", help="Where the rendered files go."),
    root: Path | None = RootOption,
) -> None:
    """Check and render the example issue, and say where the results are.

    Example: outreach demo
    """
    config = config_for(root)
    path = issue if issue.is_absolute() else config.root / issue
    report = run_checks(path, config, spam=False)
    console.print(f"checked {issue}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    for finding in report.errors:
        console.print(f"  [red]{finding.where}: {finding.message}[/]")
    folder = out if out.is_absolute() else config.root / out
    written = render_files(path, folder, "", config)
    console.print("rendered for a sample reader:")
    for file in written:
        console.print(f"  {file}")
    console.print(f"Open [bold]{written[0]}[/] in a browser, or [bold]{written[2]}[/] in a mail client.")


def register(app: typer.Typer) -> None:
    app.command()(demo)
