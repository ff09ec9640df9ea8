"""``outreach secret``: where the site's signing key lives, and rotating it."""

from __future__ import annotations

from pathlib import Path

import typer

from outreach.cli.common import RootOption, config_for, console
from outreach.keys import ENV_KEY, KEY_FILE, fingerprint, rotate

secret_app = typer.Typer(
    help="The site's secret key, which signs every unsubscribe, preference and confirmation link.\n\n"
    "Example: outreach secret show",
    no_args_is_help=True,
)


@secret_app.command("show")
def show(root: Path | None = RootOption) -> None:
    """Say where the key comes from and its fingerprint (never the key itself).

    Example: outreach secret show
    """
    config = config_for(root)
    console.print(f"the site's key comes from {config.keys.source}; fingerprint {config.keys.fingerprint}")
    for key in config.accepted_keys[1:]:
        console.print(f"  also accepted (links already sent): {fingerprint(key)}")


@secret_app.command("rotate")
def rotate_cmd(root: Path | None = RootOption) -> None:
    """Make a new key for new links; every older key keeps verifying links already sent.

    Run it on one machine, then copy the key file to every other machine that runs outreach.

    Example: outreach secret rotate
    """
    config = config_for(root)
    keys = rotate(config.root)
    console.print(
        f"new key {keys.fingerprint} in {config.root / KEY_FILE}; {len(keys.accepted) - 1} older kept"
    )
    if config.environ.get(ENV_KEY):
        console.print(
            f"[yellow]{ENV_KEY} is set, so it still signs new links: change it there (keep the old value "
            "in OUTREACH_PREVIOUS_SECRET_KEYS) or unset it to use the key file[/]"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(secret_app, name="secret")
