"""What every command shares: the consoles, loading the config, the --root option."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from outreach.config import Config, load_config

console = Console(highlight=False)
console_err = Console(stderr=True, highlight=False)

RootOption = typer.Option(
    None,
    "--root",
    help="Project folder holding outreach.toml (default: the current folder or the nearest above).",
    envvar="OUTREACH_ROOT",
)


def config_for(root: Path | None) -> Config:
    """Load outreach.toml once for this command."""
    return load_config(root)
