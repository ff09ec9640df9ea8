"""What every command shares: the consoles, loading the config, the --root option."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path

import typer
from rich.console import Console

from outreach.config import Config, load_config
from outreach.models import Actor

# Output piped to a file or another program is not wrapped at 80 columns: paths and messages stay whole
# lines that tools (and people searching logs) can use. A terminal wraps long lines itself.
console = Console(highlight=False, soft_wrap=True)
console_err = Console(stderr=True, highlight=False, soft_wrap=True)

RootOption = typer.Option(
    None,
    "--root",
    help="Project folder holding outreach.toml (default: the current folder or the nearest above).",
    envvar="OUTREACH_ROOT",
)


def config_for(root: Path | None) -> Config:
    """Load outreach.toml once for this command."""
    return load_config(root)


def cli_actor() -> Actor:
    """Who runs this command, for the audit log: the account on this machine."""
    host = socket.gethostname()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(f"{user}@{host}", "cli", host)
