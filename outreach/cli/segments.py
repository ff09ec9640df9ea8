"""Segment and topic commands: ``segments list|show|count``, ``topics list``.

A segment is shown the way it is written in lists/segments.yaml (and in words), never as Python
objects; ``--json`` gives machines the same rule as data.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from outreach.audience.db import transaction
from outreach.audience.rule_text import in_words, rule_json, rule_yaml
from outreach.audience.segment_count import count_segment
from outreach.audience.segments import ALL
from outreach.cli import audience_setup as setup
from outreach.cli.common import RootOption, config_for, console

segments_app = typer.Typer(
    help="Segments from lists/segments.yaml: list, show, count.\n\nExample: outreach segments count all",
    no_args_is_help=True,
)
topics_app = typer.Typer(
    help="Topics from lists/topics.yaml.\n\nExample: outreach topics list", no_args_is_help=True
)
ALL_MEANS = "every subscriber who is active and not suppressed (built in)"


@segments_app.command("list")
def segments_list(root: Path | None = RootOption) -> None:
    """List the segments in lists/segments.yaml.

    Example: outreach segments list
    """
    config = config_for(root)
    table = Table("segment", "description")
    table.add_row(ALL, "every subscriber who may be mailed (built in)")
    for segment in setup.segments(config).values():
        table.add_row(segment.name, segment.description)
    console.print(table)


@segments_app.command("show")
def segments_show(
    name: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help="Print the segment and its rule as JSON."),
    root: Path | None = RootOption,
) -> None:
    """Show a segment's description and rule, as written in lists/segments.yaml and in words.

    Example: outreach segments show clinicians-hampton-roads
    """
    config = config_for(root)
    segment = setup.segment(config, name)
    if as_json:
        data: dict[str, Any] = {"segment": name, "description": ALL_MEANS, "rule": None}
        if segment is not None:
            rule = json.loads(rule_json(segment.rule))
            data = {
                "segment": segment.name,
                "description": segment.description,
                "file": segment.path,
                "line": segment.line,
                "rule": rule,
            }
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        return
    if segment is None:
        console.print(f"all: {ALL_MEANS}")
        return
    console.print(f"[bold]{escape(segment.name)}[/]  ({escape(f'{segment.path}:{segment.line}')})")
    if segment.description:
        console.print(escape(segment.description))
    console.print("\nrule:")
    console.print(escape(_indented(rule_yaml(segment.rule))), soft_wrap=True)
    console.print(f"\nin words: {escape(in_words(segment.rule, setup.choices(config)))}", soft_wrap=True)


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.rstrip("\n").splitlines())


@segments_app.command("count")
def segments_count(
    name: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    root: Path | None = RootOption,
) -> None:
    """Count a segment's members (and how many may be mailed), with a sample.

    Example: outreach segments count clinicians-hampton-roads --json
    """
    config = config_for(root)
    segment = setup.segment(config, name)
    engine = setup.ready(config)
    with transaction(engine) as session:
        result = count_segment(session, segment.rule if segment else None, date.today())
    if as_json:
        data: dict[str, Any] = {
            "segment": name,
            "matching": result.matching,
            "mailable": result.mailable,
            "sample": [m.__dict__ for m in result.sample],
        }
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        return
    console.print(f"{name}: {result.matching} match, {result.mailable} may be mailed")
    for member in result.sample:
        console.print(f"  {member.email}  {member.name}  {member.role}  {member.region}")


@topics_app.command("list")
def topics_list(root: Path | None = RootOption) -> None:
    """List the topics from lists/topics.yaml.

    Example: outreach topics list
    """
    config = config_for(root)
    table = Table("key", "name", "default", "description")
    for t in setup.topics(config):
        table.add_row(t.key, t.name, "yes" if t.default else "", t.description)
    console.print(table)
