"""The ``outreach`` command: thin commands over the library.

Each command parses its arguments, loads the config once, calls one library function and formats
the result. An ``OutreachError`` becomes one red line on stderr and exit code 2 (``check`` uses 1 for
"the issue has errors"); a traceback is never shown to a user.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from outreach.cli import audience, authoring, delivery, demo, events, scheduling, secret, users, web
from outreach.cli.common import console_err
from outreach.errors import OutreachError


def report_error(err: OutreachError) -> None:
    """One red line per line of the message: what, where and what to do; never a traceback."""
    for line in str(err).splitlines() or [type(err).__name__]:
        console_err.print(f"[bold red]error:[/] {escape(line)}", highlight=False, markup=True, soft_wrap=True)


class _Outreach(TyperGroup):
    """The root command: any ``OutreachError`` of any subcommand becomes one message and exit code 2,
    the same whether the command runs from a shell or inside a test runner."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except OutreachError as err:
            report_error(err)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Outreach,
    name="outreach",
    help="Write, check and send a newsletter and outreach mail: from Markdown to every reader's inbox.\n\n"
    "Example: outreach demo   (the example issue, end to end, into a local outbox)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
authoring.register(app)
audience.register(app)
delivery.register(app)
events.register(app)
scheduling.register(app)
web.register(app)
secret.register(app)
users.register(app)
demo.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; turns our errors into one readable line."""
    try:
        app(args=argv, standalone_mode=True)
    except OutreachError as err:
        report_error(err)
        sys.exit(2)
    except KeyboardInterrupt:
        console_err.print("[yellow]interrupted[/]")
        sys.exit(130)
