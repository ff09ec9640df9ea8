"""Audience commands (db, lists, segments, topics, suppress); filled in by the audience work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the audience commands to the main app."""
